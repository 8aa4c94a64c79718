using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Guest;

/// <summary>A VMM on a guest kernel (L2), and isolation under random VMM and guest operations (issue 9 §4).</summary>
public class RecursionTests
{
    private static readonly SourceId Edu = new(0, 4, 0);

    [Fact]
    public void AnL2GuestCpuWriteIsTheHostFramesByte()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm l1 = Vmm.Start(host, Q35(ram: 512UL << 20));
        LinuxKernel guest = BootGuest(l1);
        Vmm l2 = Vmm.Start(guest, Q35(ram: 64UL << 20, iommu: false));
        Assert.Equal(VmmState.Running, l2.State);

        var gpa2 = new Gpa(0x0123_4560);
        l2.GuestMachine.Write(new Hpa(gpa2.Value), 8, 0x0102_0304_0506_0708);

        Hpa inL1 = HostAddressOf(l2, gpa2);                   // the L2 VMM's page in the L1 guest's physical memory
        Hpa inHost = HostAddressOf(l1, new Gpa(inL1.Value));   // the L1 VMM's page in the host's
        Assert.True(host.Machine.Memory.TryRead64(inHost, out ulong v));
        Assert.Equal(0x0102_0304_0506_0708UL, v);

        // And an L2 kernel boots on the L2 machine, its pages host frames too.
        LinuxKernel l2Kernel = LinuxKernel.Boot(l2.GuestMachine, "intel_iommu=on", l2.GuestKernelLayout());
        Assert.False(l2Kernel.Iommu.Active); // no vIOMMU in L2
        ProcessAddressSpace app = l2Kernel.CreateProcess("app");
        Assert.Equal(Errno.Success, app.Mmap(0x1000, MemoryProtection.ReadWrite, out Uva va));
        Assert.Equal(Errno.Success, app.Write64(va, 0xabc));
        Hpa inL2 = app.Translate(va)!.Value;
        Assert.True(host.Machine.Memory.TryRead64(HostAddressOf(l1, new Gpa(HostAddressOf(l2, new Gpa(inL2.Value)).Value)), out v));
        Assert.Equal(0xabcUL, v);

        l2.Quit();
        l1.Quit();
        Assert.Equal(0, host.UserMemory.PagesInUse);
    }

    private enum Op { Map, Unmap, EmulatedDma, PassthroughDma, Pam, Bar, HotAdd }

    private readonly record struct Step(Op Op, int A, int B, bool Write);

    private static readonly Gen<Step> StepGen =
        Gen.Select(Gen.Enum<Op>(), Gen.Int[0, 1 << 20], Gen.Int[0, 1 << 20], Gen.Bool, (o, a, b, w) => new Step(o, a, b, w));

    /// <summary>
    /// Two VMs on one host: one with a vIOMMU whose guest kernel maps and unmaps buffers of a guest process for an
    /// emulated function, one without a vIOMMU with a passthrough device, the VMM changing its map (PAM, BARs,
    /// hot-add). Whatever the sequence: every DMA write reaches exactly the host frame its address resolves to — a
    /// page the guest domain maps (emulated) or guest RAM the policy maps writable (passthrough) — and nothing else;
    /// every other DMA is refused without writing anything; reads return the bytes the guest holds there.
    /// </summary>
    [Fact]
    public void NoDmaReachesAHostFrameOutsideTheVmsGuestRamOrAGuestPageItsDomainDoesNotMap()
    {
        PropertyRunner.Run(StepGen.Array[1, 25], steps =>
        {
            LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
            Vmm withIommu = Vmm.Start(host, Q35(ram: 128UL << 20, scalable: true));
            withIommu.GuestMachine.AddFunction(new PciFunction(Edu, "edu"));
            LinuxKernel guest = BootGuest(withIommu);
            ProcessAddressSpace app = guest.CreateProcess("app");
            IommufdContext fd = guest.OpenIommufd(app);
            Assert.Equal(Errno.Success, fd.DeviceBind(Edu, out uint dev));
            Assert.Equal(Errno.Success, fd.IoasAlloc(0, out uint ioas));
            uint pt = ioas;
            Assert.Equal(Errno.Success, fd.DeviceAttach(dev, ref pt));
            const int bufferPages = 16;
            Assert.Equal(Errno.Success, app.Mmap(bufferPages * 0x1000, MemoryProtection.ReadWrite, out Uva buffer));
            var mapped = new Dictionary<ulong, ulong>(); // IOVA page → buffer page index

            Vmm passthrough = Vmm.Start(host, Q35(ram: 16UL << 20, iommu: false, defaults: true) with { ErratumPolicy = ErratumPolicy.Qemu72, Passthrough = [Nic] });
            Assert.Equal(VmmState.Running, passthrough.State);
            SourceId nic = passthrough.Devices[0].Guest!.Value;

            var written = new List<MemoryWrite>();
            using IDisposable watch = host.Machine.Memory.ObserveWrites(new Hpa(0), host.Machine.Memory.Size, w =>
            {
                if (w.Origin == WriteOrigin.Dma) written.Add(w);
            });
            int dimms = 0;
            foreach (Step s in steps)
            {
                written.Clear();
                switch (s.Op)
                {
                    case Op.Map:
                    {
                        ulong iova = 0x100_0000UL + (ulong)(s.A % 32) * 0x1000;
                        ulong page = (ulong)(s.B % bufferPages);
                        ulong at = iova;
                        Errno e = fd.IoasMap(ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, buffer + page * 0x1000, 0x1000, ref at);
                        Assert.Equal(mapped.ContainsKey(iova) ? Errno.EEXIST : Errno.Success, e);
                        if (e == Errno.Success) mapped[iova] = page;
                        break;
                    }
                    case Op.Unmap:
                    {
                        ulong iova = 0x100_0000UL + (ulong)(s.A % 32) * 0x1000;
                        ulong length = 0x1000;
                        Errno e = fd.IoasUnmap(ioas, iova, ref length);
                        Assert.Equal(mapped.Remove(iova) ? Errno.Success : Errno.ENOENT, e);
                        break;
                    }
                    case Op.EmulatedDma:
                    {
                        ulong iova = 0x100_0000UL + (ulong)(s.A % 34) * 0x1000 + (ulong)(s.B % 0x1000 & ~7);
                        bool ok = mapped.TryGetValue(iova & ~0xFFFUL, out ulong page);
                        Uva target = buffer + page * 0x1000 + (iova & 0xFFF);
                        if (s.Write)
                        {
                            DmaTransferResult r = withIommu.GuestMachine.Dma.Write(new DmaRequest(Edu, new Iova(iova), DmaAccess.Write), BitConverter.GetBytes((ulong)s.B));
                            Assert.Equal(ok, r.Completed);
                            if (ok) Assert.Equal([new MemoryWrite(HostAddressOf(withIommu, app, target), 8, WriteOrigin.Dma)], written);
                            else Assert.Empty(written);
                        }
                        else
                        {
                            var bytes = new byte[8];
                            DmaTransferResult r = withIommu.GuestMachine.Dma.Read(new DmaRequest(Edu, new Iova(iova), DmaAccess.Read), bytes);
                            Assert.Equal(ok, r.Completed);
                            if (ok)
                            {
                                Assert.Equal(Errno.Success, app.Read64(target, out ulong held));
                                Assert.Equal(held, BitConverter.ToUInt64(bytes));
                            }
                        }
                        break;
                    }
                    case Op.PassthroughDma:
                    {
                        // Low RAM, the PAM area, the BIOS, the PCI hole, a hot-add range.
                        ulong[] bases = [0x10_0000, 0xc_0000, 0xfffc_0000, 0xc000_0000, 0x1_0000_0000];
                        ulong gpa = bases[s.A % bases.Length] + (ulong)(s.B % 64) * 0x1000;
                        GuestMapping m = passthrough.Resolve(new Gpa(gpa));
                        if (s.Write)
                        {
                            DmaTransferResult r = passthrough.GuestMachine.Dma.Write(new DmaRequest(nic, new Iova(gpa), DmaAccess.Write), BitConverter.GetBytes((ulong)s.B));
                            bool writable = m.IsRam && !m.ReadOnly;
                            Assert.Equal(writable, r.Completed);
                            if (writable) Assert.Equal([new MemoryWrite(HostAddressOf(passthrough, new Gpa(gpa)), 8, WriteOrigin.Dma)], written);
                            else Assert.Empty(written);
                        }
                        else
                        {
                            var bytes = new byte[8];
                            DmaTransferResult r = passthrough.GuestMachine.Dma.Read(new DmaRequest(nic, new Iova(gpa), DmaAccess.Read), bytes);
                            Assert.Equal(m.IsRam, r.Completed);
                            var held = new byte[8];
                            if (m.IsRam && passthrough.TryReadGuest(new Gpa(gpa), held)) Assert.Equal(held, bytes);
                        }
                        break;
                    }
                    case Op.Pam:
                        Assert.True(passthrough.TrySetPam(s.A % PcMachine.PamSegments, (PamMode)(s.B % 4), out _));
                        break;
                    case Op.Bar:
                        Bar vram = passthrough.Machine.Functions.First(f => f.Name == "VGA").Bars[0];
                        Assert.True(passthrough.TryPlaceBar(vram, s.A % 3 == 0 ? null : 0xc000_0000UL + (ulong)(s.B % 4) * vram.Size, out _));
                        break;
                    case Op.HotAdd:
                        passthrough.TryHotAddMemory($"dimm{dimms++}", new Gpa(0x1_0000_0000UL + (ulong)(s.A % 4) * (2UL << 20)), 2UL << 20, out _);
                        break;
                }
                Assert.Equal(VmmState.Running, passthrough.State);
            }
            passthrough.Quit();
            withIommu.Quit();
        }, seed: 0x15, iterations: 25, print: steps => string.Join(", ", steps));
    }
}
