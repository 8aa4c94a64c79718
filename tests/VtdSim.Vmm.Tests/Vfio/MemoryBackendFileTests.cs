using VtdSim.Hardware.Addressing;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Tests.Support;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm.Tests.Vfio;

/// <summary>
/// `-object memory-backend-file,…,share=on,readonly=on` and `-device nvdimm,memdev=…,unarmed=on`: one host file shown
/// read-only to several guests, one page-cache frame behind every GPA of it (decisions S60–S62).
/// </summary>
public class MemoryBackendFileTests
{
    private const string Rom = "/dev/shm/rom.img";
    private const ulong DeviceMemory = 0x1_0000_0000; // the first GiB boundary above a 64 MiB guest's RAM

    private static VmmOptions WithFile(VmmOptions options, string backend, string nvdimm)
    {
        Assert.True(MemoryBackendFile.TryParse(backend, out MemoryBackendFile? b, out string e1), e1);
        Assert.True(NvdimmOptions.TryParse(nvdimm, out NvdimmOptions? n, out string e2), e2);
        return options with { MemoryBackends = [b!], Nvdimms = [n!] };
    }

    private static string Backend(bool readOnly = true, string path = Rom) =>
        $"memory-backend-file,id=rom0,mem-path={path},size=64K,share=on,readonly={(readOnly ? "on" : "off")}";

    [Fact]
    public void TwoVmsMappingOneFileReadOnlySeeOneFrameTheirGuestsCannotWriteAndVfioMapsItReadOnly()
    {
        LinuxKernel host = VmmHosts.Boot(VmmHosts.Host("sapphire-rapids"));
        Assert.Equal(Errno.Success, host.CreateNamedFile(Rom, 0x10000, out SharedFile? file));
        Assert.Equal(Errno.Success, file!.Write(0x1000, BitConverter.GetBytes(0x0ffff007UL)));

        Vmm a = Vmm.Start(host, WithFile(VmmHosts.Options(ErratumPolicy.Qemu72, xflts: false), Backend(), "nvdimm,memdev=rom0,unarmed=on"));
        Vmm b = Vmm.Start(host, WithFile(new VmmOptions { Machine = new MachineOptions { RamSize = 64UL << 20 } }, Backend(), "nvdimm,memdev=rom0,unarmed=on"));
        Assert.True(a.State == VmmState.Running, a.Log.ToString());
        Assert.True(b.State == VmmState.Running, b.Log.ToString());

        var gpa = new Gpa(DeviceMemory + 0x1000);
        GuestMapping ma = a.Resolve(gpa), mb = b.Resolve(gpa);
        Assert.Equal(("rom0", true, true), (ma.Region, ma.IsRam, ma.ReadOnly)); // the nvdimm-memory alias renders the read-only backend's RAM block
        Assert.True(mb.ReadOnly);
        var seen = new byte[8];
        Assert.True(b.TryReadGuest(gpa, seen));
        Assert.Equal(0x0ffff007UL, BitConverter.ToUInt64(seen)); // the file's bytes
        Assert.False(a.GuestMachine.Memory.TryWrite(new Hpa(gpa.Value), new byte[8])); // the guest cannot write it ...
        Assert.False(a.TryWriteGuest(gpa, new byte[8]));                               // ... nor can the VMM: PROT_READ

        // One frame: the page cache's, behind both VMMs' process addresses.
        Hpa? fa = a.Process.Translate(ma.UserVa!.Value), fb = b.Process.Translate(mb.UserVa!.Value);
        Assert.NotNull(fa);
        Assert.Equal(fa, fb);
        // A store into that frame (what the erratum's A/D write is) is what the other guest reads.
        Assert.True(host.Machine.Memory.TryWrite(fa!.Value, BitConverter.GetBytes(0x0ffff027UL)));
        Assert.True(b.TryReadGuest(gpa, seen));
        Assert.Equal(0x0ffff027UL, BitConverter.ToUInt64(seen));

        // The listener maps the nvdimm's read-only section READ only, from that file (qemu-7.2 with the device on the IOAS).
        IoasAreaInfo area = Assert.Single(a.Container!.Mappings, m => m.Iova == DeviceMemory);
        Assert.Equal((0x10000UL, IommuProt.Read), (area.Length, area.Prot));
        Assert.False(area.PinnedWritable);
        a.Quit();
        b.Quit();
        Assert.Equal(Errno.Success, host.OpenFile(Rom, out SharedFile? still)); // the host's file outlives the VMMs
        Assert.Same(file, still);
    }

    [Theory]
    [InlineData(true, "nvdimm,memdev=rom0", "qemu-system-x86_64: -device nvdimm,memdev=rom0: 'unarmed' property must be 'on' since memdev rom0 is read-only")]
    [InlineData(true, "nvdimm,memdev=rom9,unarmed=on", "qemu-system-x86_64: -device nvdimm,memdev=rom9,unarmed=on: Device 'rom9' not found")]
    [InlineData(true, "nvdimm,unarmed=on", "qemu-system-x86_64: -device nvdimm,unarmed=on: 'memdev' property is not set")]
    [InlineData(true, "nvdimm,memdev=rom0,unarmed=on,addr=0x100000800", "qemu-system-x86_64: -device nvdimm,memdev=rom0,unarmed=on,addr=0x100000800: address must be aligned to 0x1000 bytes")]
    [InlineData(true, "nvdimm,memdev=rom0,unarmed=on,addr=0x80000000", "qemu-system-x86_64: -device nvdimm,memdev=rom0,unarmed=on,addr=0x80000000: can't add memory device [0x80000000:0x8000ffff], usable range for memory devices [0x100000000:0xffffffffff]")]
    public void ARefusedNvdimmIsQemusMessageAndTheVmDoesNotStart(bool fileExists, string nvdimm, string message)
    {
        LinuxKernel host = VmmHosts.Boot(VmmHosts.Host("sapphire-rapids"));
        if (fileExists) Assert.Equal(Errno.Success, host.CreateNamedFile(Rom, 0x10000, out _));
        Vmm vmm = Vmm.Start(host, WithFile(VmmHosts.Options(ErratumPolicy.Qemu11, xflts: false), Backend(), nvdimm));
        Assert.Equal(VmmState.Failed, vmm.State);
        Assert.Equal(message, vmm.Log.Lines[^1]);
        Assert.Empty(vmm.Process.Mappings); // nothing left behind
    }

    [Theory]
    [InlineData("memory-backend-file,id=rom0,mem-path=/dev/shm/none.img,size=64K,share=on,readonly=on", "can't open backing store /dev/shm/none.img for guest RAM: No such file or directory")]
    [InlineData("memory-backend-file,id=rom0,mem-path=/dev/shm/rom.img,size=128K,share=on,readonly=on", "rom0 backing store size 0x10000 is too small for 'size' option 0x20000 plus 'offset' option 0x0")]
    [InlineData("memory-backend-file,id=rom0,mem-path=/dev/shm/rom.img,share=on", "can't create backend with size 0")]
    [InlineData("memory-backend-file,id=rom0,size=64K,share=on", "mem-path property not set")]
    [InlineData("memory-backend-file,id=rom0,mem-path=/dev/shm/rom.img,size=64K,readonly=on", "share=off (a private, copy-on-write mapping of the file) is not modelled by vtdsim; give share=on")]
    public void ABackendQemuRefusesStopsTheStartWithItsMessage(string backend, string message)
    {
        LinuxKernel host = VmmHosts.Boot(VmmHosts.Host("sapphire-rapids"));
        Assert.Equal(Errno.Success, host.CreateNamedFile(Rom, 0x10000, out _));
        Vmm vmm = Vmm.Start(host, WithFile(VmmHosts.Options(ErratumPolicy.Qemu11, xflts: false), backend, "nvdimm,memdev=rom0,unarmed=on"));
        Assert.Equal(VmmState.Failed, vmm.State);
        Assert.Equal($"qemu-system-x86_64: -object {backend}: {message}", vmm.Log.Lines[^1]);
    }

    [Fact]
    public void AWritableBackendCreatesTheFileAndAGuestStoreReachesIt()
    {
        LinuxKernel host = VmmHosts.Boot(VmmHosts.Host("sapphire-rapids"));
        Vmm vmm = Vmm.Start(host, WithFile(VmmHosts.Options(ErratumPolicy.Qemu11, xflts: false), Backend(readOnly: false, path: "/dev/shm/new.img"), "nvdimm,memdev=rom0"));
        Assert.True(vmm.State == VmmState.Running, vmm.Log.ToString());
        Assert.True(vmm.GuestMachine.Memory.TryWrite(new Hpa(DeviceMemory + 8), BitConverter.GetBytes(0x5aUL)));
        Assert.Equal(Errno.Success, host.OpenFile("/dev/shm/new.img", out SharedFile? made));
        var bytes = new byte[8];
        Assert.Equal(Errno.Success, made!.Read(8, bytes));
        Assert.Equal(0x5aUL, BitConverter.ToUInt64(bytes));
        Assert.Equal(IommuProt.Read | IommuProt.Write, Assert.Single(vmm.Container!.Mappings, m => m.Iova == DeviceMemory).Prot);
    }

    [Theory]
    [InlineData("memory-backend-file,id=rom0,mem-path=/x,size=1M,share=maybe", "Parameter 'share' expects 'on' or 'off'")]
    [InlineData("memory-backend-file,id=rom0,mem-path=/x,size=lots", "Parameter 'size' expects a non-negative number below 2^64")]
    [InlineData("memory-backend-file,id=rom0,mem-path=/x,size=1M,colour=red", "Property 'memory-backend-file.colour' not found")]
    [InlineData("memory-backend-file,id=rom0,mem-path=/x,size=1M,prealloc=on", "Property 'memory-backend-file.prealloc' is not modelled by vtdsim")]
    [InlineData("memory-backend-file,mem-path=/x,size=1M", "Parameter 'id' is missing")]
    [InlineData("memory-backend-ram,id=rom0,size=1M", "Invalid parameter type for 'qom-type', expected: memory-backend-file")]
    public void ABadBackendOptionIsQemusMessage(string text, string message)
    {
        Assert.False(MemoryBackendFile.TryParse(text, out MemoryBackendFile? b, out string error));
        Assert.Null(b);
        Assert.Equal(message, error);
    }

    [Theory]
    [InlineData("nvdimm,memdev=rom0,unarmed=perhaps", "Parameter 'unarmed' expects 'on' or 'off'")]
    [InlineData("nvdimm,memdev=rom0,addr=high", "Parameter 'addr' expects integer")]
    [InlineData("nvdimm,memdev=rom0,size=4K", "Property 'nvdimm.size' not found")]
    [InlineData("nvdimm,memdev=rom0,label-size=128K", "Property 'nvdimm.label-size' is not modelled by vtdsim")]
    public void ABadNvdimmOptionIsQemusMessage(string text, string message)
    {
        Assert.False(NvdimmOptions.TryParse(text, out NvdimmOptions? n, out string error));
        Assert.Null(n);
        Assert.Equal(message, error);
    }

    [Theory]
    [InlineData("64K", 0x10000UL)]
    [InlineData("0x2000", 0x2000UL)]
    [InlineData("2M", 0x200000UL)]
    [InlineData("4096", 4096UL)]
    public void SizesAreQemusNumbersWithSuffixes(string text, ulong bytes)
    {
        Assert.True(MemoryBackendFile.TryParse($"memory-backend-file,id=m,mem-path=/x,size={text}", out MemoryBackendFile? b, out string error), error);
        Assert.Equal(bytes, b!.Size);
    }
}
