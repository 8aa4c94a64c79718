using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Translation;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Tests.Support;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Machines;

/// <summary>
/// OVMF in pflash (decisions V50–V52): QEMU's checks of the images, what the VFIO listener does with the flash and with
/// the read-only RAM OVMF leaves, and the guest's view of the flash. The layouts themselves are compared with QEMU 7.2
/// in <see cref="CaptureTests"/> (the *-ovmf captures).
/// </summary>
public class OvmfTests
{
    private const ulong FlashBase = 0xffc00000; // OVMF_VARS_4M.fd (flash1) then OVMF_CODE_4M.fd (flash0) up to 4 GiB

    [Theory]
    [InlineData(new ulong[] { 4608 }, "system firmware block device pflash0 has invalid size 4608 (its size must be a non-zero multiple of 0x1000)")]
    [InlineData(new ulong[] { 0x37c000, 0 }, "system firmware block device pflash1 has invalid size 0 (its size must be a non-zero multiple of 0x1000)")]
    [InlineData(new ulong[] { 9UL << 20 }, "combined size of system firmware exceeds 8388608 bytes")]
    [InlineData(new ulong[] { 8UL << 20, 0x84000 }, "combined size of system firmware exceeds 8388608 bytes")]
    [InlineData(new ulong[] { 0x37c000, 0x84000, 0x1000 }, "machine type does not support if=pflash,bus=0,unit=2")]
    public void BadImagesAreRefusedWithQemusMessage(ulong[] sizes, string message)
    {
        Assert.False(PcMachine.TryCreate(new MachineOptions { Pflash = sizes }, out PcMachine? machine, out string error));
        Assert.Null(machine);
        Assert.Equal(message, error);
    }

    [Fact]
    public void EightMebibytesInOneImageFitAndEndAtFourGibibytes()
    {
        PcMachine machine = PcMachine.Create(new MachineOptions { Pflash = [8UL << 20], Defaults = false });
        MemorySection flash = machine.SystemMemory.Sections.Single(s => s.Region.Name == "system.flash0");
        Assert.Equal((0xff800000UL, (UInt128)(8UL << 20), "romd"), (flash.Start, flash.Size, flash.Region.TypeName));
        Assert.DoesNotContain(machine.SystemMemory.Sections, s => s.Region.Name == "pc.bios");
    }

    [Fact]
    public void TheStateAfterOvmfOnThePcMachineIsRefusedByName()
    {
        Assert.False(PcMachine.TryCreate(new MachineOptions { Type = MachineType.Pc, Pflash = Captures.Ovmf4M, Booted = true }, out _, out string error));
        Assert.Contains("q35 only", error);
    }

    [Theory]
    [InlineData("qemu-7.2", false)]
    [InlineData("qemu-11", true)]
    [InlineData("never-ro", false)]
    public void TheListenerNeverMapsTheFlashAndTreatsOvmfsReadOnlyRamAsItsPolicySays(string policyName, bool xflts)
    {
        Assert.True(ErratumPolicies.TryParse(policyName, out ErratumPolicy policy, out string problem), problem);
        var kernel = Boot(Host("sapphire-rapids"));
        VmmOptions options = Options(policy, xflts);
        options = options with { Machine = options.Machine with { Pflash = Captures.Ovmf4M } };
        Vmm vmm = Vmm.Start(kernel, options);
        Assert.Equal(VmmState.Running, vmm.State);

        // After OVMF (with the default VGA): the VBE shim's segment 0xc0000-0xc3fff is read-only guest RAM, the rest of
        // 0xc4000-0xfffff the PCI space's ROMs (pc.rom, isa-bios), the flash a ROM device in ROMD mode.
        var sections = vmm.Machine.SystemMemory.Sections;
        Assert.Contains(sections, s => s.Start == 0xc0000 && s.Region.Name == "pc.ram" && s.ReadOnly);
        Assert.Contains(sections, s => s.Start == 0xe0000 && s.Region.Name == "isa-bios" && s.ReadOnly);
        var mapped = Actual(vmm);
        Assert.DoesNotContain(mapped, m => m.Iova + m.Length > FlashBase && m.Iova < 0x1_0000_0000);
        var readOnlyRam = mapped.Where(m => m.Iova is >= 0xc0000 and < 0x100000).ToList();
        if (policy == ErratumPolicy.Qemu11) Assert.Empty(readOnlyRam);                       // bypass_ro on the erratum host
        else if (policy == ErratumPolicy.NeverRo) Assert.All(readOnlyRam, m => Assert.Equal(Kernel.Intel.IommuProt.Read | Kernel.Intel.IommuProt.Write, m.Prot));
        else Assert.All(readOnlyRam, m => Assert.Equal(Kernel.Intel.IommuProt.Read, m.Prot));
        if (policy != ErratumPolicy.Qemu11) Assert.Contains(readOnlyRam, m => m.Iova == 0xc0000);

        // The device's DMA to the flash faults whatever the policy: it was never mapped (not present in the stage the
        // host's domain for the IOAS translates with: a nest parent's second stage, or a first-stage domain).
        var buffer = new byte[8];
        DmaTransferResult r = kernel.Machine.Dma.Read(new DmaRequest(Nic, new Iova(0xfffffff0), DmaAccess.Read), buffer);
        Assert.Contains(r.Fault?.Reason, new FaultReason?[] { FaultReason.SSS2_EntryNotPresent, FaultReason.SFS2_EntryNotPresent });
        Assert.Equal(0, r.BytesTransferred);
    }

    [Fact]
    public void TheGuestReadsTheFlashAndCannotWriteIt()
    {
        var kernel = Boot(Host("architectural"));
        VmmOptions options = Options(ErratumPolicy.Qemu72, xflts: false);
        options = options with { Machine = options.Machine with { Pflash = Captures.Ovmf4M } };
        Vmm vmm = Vmm.Start(kernel, options);
        Assert.Equal(VmmState.Running, vmm.State);

        // The reset vector's page, as the VMM loaded the image: the guest machine reads the VMM's bytes.
        var gpa = new Gpa(0xfffff000);
        GuestMapping where = vmm.Resolve(gpa);
        Assert.Equal("system.flash0", where.Region);
        Assert.NotNull(where.UserVa);
        Assert.Equal(Kernel.Errno.Success, vmm.Process.Write(where.UserVa!.Value, "OVMF reset vector"u8));
        var seen = new byte[17];
        Assert.True(vmm.GuestMachine.Memory.TryRead(new Hpa(gpa.Value), seen));
        Assert.Equal("OVMF reset vector"u8.ToArray(), seen);
        // A guest write does not change the flash (its command interface is not modelled, V52).
        Assert.False(vmm.GuestMachine.Memory.TryWrite(new Hpa(gpa.Value), new byte[4]));
        Assert.True(vmm.GuestMachine.Memory.TryRead(new Hpa(gpa.Value), seen));
        Assert.Equal("OVMF reset vector"u8.ToArray(), seen);
    }
}
