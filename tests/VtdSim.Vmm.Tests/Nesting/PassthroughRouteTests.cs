using CsCheck;
using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Machine;
using VtdSim.Vmm.Guest;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// The passthrough routes a guest machine's port keeps instead of deciding per DMA (decision N70): each point where
/// what they are decided from changes — the vIOMMU's TE, its SRTP, nesting and shadowing torn down with the VMM, the
/// passthrough list emptied, the same changes one level down for an L2 device — is followed by the next DMA, and under
/// any interleaving of them the kept routes are the ones decided afresh.
/// </summary>
public class PassthroughRouteTests
{
    /// <summary>A vIOMMU without caching mode: the host neither nests nor shadows, so a translating one refuses the device.</summary>
    private const string Refusing = "x-scalable-mode=on";

    private const GlobalCommand Persistent = GlobalCommand.TranslationEnable | GlobalCommand.QueuedInvalidationEnable
        | GlobalCommand.InterruptRemappingEnable | GlobalCommand.CompatibilityFormatInterrupt;

    /// <summary>GCMD with the persistent commands as GSTS reports them and TE as asked (what a guest driver writes).</summary>
    private static void SetTranslation(VtdUnit unit, bool on)
    {
        var status = (GlobalCommand)unit.ReadRegister32(RegisterOffset.GSTS) & Persistent;
        unit.WriteRegister32(RegisterOffset.GCMD, (uint)(on ? status | GlobalCommand.TranslationEnable : status & ~GlobalCommand.TranslationEnable));
        Assert.Equal(on, unit.TranslationEnabled);
    }

    /// <summary>The same root table latched again (SRTP) in the mode asked.</summary>
    private static void SetRootTable(VtdUnit unit, TranslationTableMode mode)
    {
        unit.WriteRegister64(RegisterOffset.RTADDR, unit.RootTable.Value | ((ulong)mode << 10));
        var status = (GlobalCommand)unit.ReadRegister32(RegisterOffset.GSTS) & Persistent;
        unit.WriteRegister32(RegisterOffset.GCMD, (uint)(status | GlobalCommand.SetRootTablePointer));
        Assert.Equal(mode, unit.TableMode);
    }

    private static bool Refused(DmaTransferResult r) => r is { BytesTransferred: 0, Fault: null } && (r.MemoryError ?? "").Contains("behind the vIOMMU");

    private static long Lookups(VtdUnit unit)
    {
        CacheStatistics s = unit.CacheReports().First(r => r.Name == "iotlb").Statistics;
        return s.Hits + s.Misses;
    }

    [Fact]
    public void WhenTheGuestTurnsItsVIommuOffAndOnAgainTheNextDmaIsAllowedThenRefusedAgain()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options(ErratumPolicy.Qemu72, properties: Refusing));
        SourceId device = vmm.Devices[0].Guest!.Value;
        var read = new DmaRequest(device, new Iova(0x10_0000), DmaAccess.Read);
        var bytes = new byte[8];
        // Before the guest enables DMA remapping the address is a GPA the host translates.
        Assert.True(vmm.GuestMachine.Dma.Read(read, bytes).Completed);

        BootGuest(vmm); // the guest kernel turns TE on
        Assert.True(Refused(vmm.GuestMachine.Dma.Read(read, bytes)));

        SetTranslation(vmm.VIommu!, false);
        vmm.GuestMachine.Write(new Hpa(0x10_0000), 8, 0x1122_3344_5566_7788);
        Assert.True(vmm.GuestMachine.Dma.Read(read, bytes).Completed);
        Assert.Equal(0x1122_3344_5566_7788UL, BitConverter.ToUInt64(bytes));

        SetTranslation(vmm.VIommu!, true);
        Assert.True(Refused(vmm.GuestMachine.Dma.Write(read with { Access = DmaAccess.Write }, bytes)));
        vmm.Quit();
    }

    /// <summary>
    /// Quitting tears down shadowing and nesting and empties the passthrough list: the former device's requests are the
    /// guest machine's own (its vIOMMU's), none reaches the host IOMMU.
    /// </summary>
    [Fact]
    public void AfterTheVmmQuitsItsFormerPassthroughDevicesDmaNoLongerReachesTheHost()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options());
        GuestUser user = MapForDevice(vmm, 0x100_0000, 0x1000);
        var read = new DmaRequest(user.Device, new Iova(0x100_0000), DmaAccess.Read);
        var bytes = new byte[8];
        Assert.True(vmm.GuestMachine.Dma.Read(read, bytes).Completed);
        VtdUnit hostUnit = host.Machine.HardwareIommu!;
        long lookups = Lookups(hostUnit);

        vmm.Quit();
        DmaTransferResult r = vmm.GuestMachine.Dma.Read(read, bytes);
        Assert.Equal(lookups, Lookups(hostUnit));
        Assert.NotEqual(Nic, r.Fault?.Request.Source); // not the host function's request (its context is gone: a host fault)
        Assert.False(Refused(r));                        // nor a passthrough device's refused behind the vIOMMU
        Assert.Empty(((GuestDmaPort)vmm.GuestMachine.Dma).Passthrough);
    }

    /// <summary>
    /// An L2 device's route goes through L1's port to the host's. When L1 quits, L2's route follows at once: its
    /// request is L1's guest machine's again (L1's vIOMMU), not the host function's.
    /// </summary>
    [Fact]
    public void WhenL1QuitsAnL2DevicesDmaNoLongerReachesTheHost()
    {
        ThreeLevels run = ThreeLevels.Start(BuiltInProfiles.SapphireRapids);
        var read = new DmaRequest(run.L2Device, new Iova(0x10_0000), DmaAccess.Read);
        var bytes = new byte[8];
        Assert.True(run.L2.GuestMachine.Dma.Read(read, bytes).Completed);
        VtdUnit hostUnit = run.Host.Machine.HardwareIommu!;
        long lookups = Lookups(hostUnit);

        run.L1.Quit(); // L2's VMM goes with L1's guest machine (G20): its kernel's memory is gone
        Assert.Equal(VmmState.Killed, run.L2.State);
        Assert.True(run.L1.GuestMachine.PoweredOff);
        Assert.True(run.L2.GuestMachine.PoweredOff);
        DmaTransferResult r = run.L2.GuestMachine.Dma.Read(read, bytes);
        Assert.Equal(lookups, Lookups(hostUnit));
        Assert.NotEqual(Nic, r.Fault?.Request.Source); // not the host function's request (its context is gone: a host fault)
        Assert.False(Refused(r));                        // nor a passthrough device's refused behind the vIOMMU
        Assert.Equal(0, run.Host.UserMemory.TotalPins);

        run.L2.Quit();                                   // quitting what is gone does nothing (it used to throw from L1's kernel)
        Assert.Equal(VmmState.Killed, run.L2.State);
    }

    /// <summary>
    /// L1's vIOMMU refuses its passthrough device while it translates (no caching mode): an L2 device passed through
    /// from it is refused with it — in L1's words, naming L1's requester id — and allowed while L1's guest has TE off.
    /// A change in L1 refreshes L2's route: the DMA after it goes where L1 now says.
    /// </summary>
    [Fact]
    public void WhenL1TurnsItsVIommuOnAndOffTheNextL2DmaFollows()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm l1 = Vmm.Start(host, Options(ErratumPolicy.Qemu72, properties: Refusing) with { Name = "l1" });
        LinuxKernel l1Kernel = BootGuest(l1);
        Vmm l2 = Vmm.Start(l1Kernel, ThreeLevels.L2Options(l1, ErratumPolicy.Qemu72));
        Assert.Equal(VmmState.Running, l2.State);
        SourceId inL2 = l2.Devices[0].Guest!.Value, inL1 = l1.Devices[0].Guest!.Value;
        var read = new DmaRequest(inL2, new Iova(0x10_0000), DmaAccess.Read);
        var bytes = new byte[8];

        DmaTransferResult r = l2.GuestMachine.Dma.Read(read, bytes);
        Assert.True(Refused(r));
        Assert.Contains(inL1.ToString(), r.MemoryError);

        SetTranslation(l1.VIommu!, false); // the address is now an L1 GPA for the host
        l1.GuestMachine.Write(new Hpa(0x10_0000), 8, 0x0bad_cafe);
        Assert.True(l2.GuestMachine.Dma.Read(read, bytes).Completed);
        Assert.Equal(0x0bad_cafeUL, BitConverter.ToUInt64(bytes));

        SetTranslation(l1.VIommu!, true);
        Assert.True(Refused(l2.GuestMachine.Dma.Read(read, bytes)));
        l2.Quit();
        l1.Quit();
    }

    private enum Op { L1TranslationOff, L1TranslationOn, L2TranslationOff, L2TranslationOn, L1Legacy, L1Scalable, L2Quit, L2Start, L1Quit, L2Dma, L1Dma }

    private readonly record struct Case(bool L1Nests, Op[] Ops);

    private static readonly Gen<Case> CaseGen = Gen.Select(Gen.Bool, Gen.Enum<Op>().Array[1, 16], (n, ops) => new Case(n, ops));

    /// <summary>
    /// Random state changes at L1 and L2 — TE and SRTP of each vIOMMU, an L2 VMM quitting or starting, L1 quitting —
    /// interleaved with DMAs: after every step each port's kept route of every device is the one decided afresh from
    /// every level's state, and a DMA is refused exactly when that decision says so.
    /// </summary>
    [Fact]
    public void UnderAnyInterleavingOfStateChangesTheKeptRoutesAreTheOnesDecidedAfresh()
    {
        PropertyRunner.Run(CaseGen, c =>
        {
            LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
            Vmm l1 = Vmm.Start(host, (c.L1Nests ? Options() : Options(ErratumPolicy.Qemu72, properties: Refusing)) with { Name = "l1" });
            LinuxKernel l1Kernel = BootGuest(l1);
            SourceId inL1 = l1.Devices[0].Guest!.Value;
            Vmm StartL2() => Vmm.Start(l1Kernel, ThreeLevels.L2Options(l1, ErratumPolicy.Qemu72, Refusing));
            Vmm l2 = StartL2();
            var ports = new List<GuestDmaPort> { (GuestDmaPort)l1.GuestMachine.Dma };
            var bytes = new byte[8];

            foreach (Op op in c.Ops)
            {
                bool l2Up = l2.State == VmmState.Running;
                // What L1's kernel does to its vIOMMU on a VMM's start or quit needs the scalable mode it set up.
                if (op is Op.L2Quit or Op.L2Start or Op.L1Quit && l1.State == VmmState.Running && l1.VIommu!.TableMode != TranslationTableMode.Scalable)
                    SetRootTable(l1.VIommu, TranslationTableMode.Scalable);
                switch (op)
                {
                    case Op.L1TranslationOff or Op.L1TranslationOn when l1.State == VmmState.Running:
                        SetTranslation(l1.VIommu!, op == Op.L1TranslationOn);
                        break;
                    case Op.L2TranslationOff or Op.L2TranslationOn when l2Up:
                        SetTranslation(l2.VIommu!, op == Op.L2TranslationOn);
                        break;
                    case Op.L1Legacy or Op.L1Scalable when l1.State == VmmState.Running:
                        SetRootTable(l1.VIommu!, op == Op.L1Legacy ? TranslationTableMode.Legacy : TranslationTableMode.Scalable);
                        break;
                    case Op.L2Quit when l2Up:
                        l2.Quit();
                        break;
                    case Op.L2Start when !l2Up && l1.State == VmmState.Running:
                        l2 = StartL2();
                        break;
                    case Op.L1Quit when l1.State == VmmState.Running:
                        if (l2Up) l2.Quit();
                        l1.Quit();
                        break;
                    case Op.L2Dma when l2Up:
                    {
                        var port = (GuestDmaPort)l2.GuestMachine.Dma;
                        SourceId device = l2.Devices[0].Guest!.Value;
                        // Refused at L2, or sent to L1's port because L1 refuses (any other route leaves both ports).
                        IDmaPort? target = port.Decide(device, cached: false).Target;
                        bool refused = target is null || target == l1.GuestMachine.Dma;
                        Assert.Equal(refused, Refused(port.Read(new DmaRequest(device, new Iova(0x10_0000), DmaAccess.Read), bytes)));
                        break;
                    }
                    case Op.L1Dma when l1.State == VmmState.Running:
                    {
                        var port = (GuestDmaPort)l1.GuestMachine.Dma;
                        bool refused = port.Decide(inL1, cached: false).Target is null;
                        Assert.Equal(refused, Refused(port.Read(new DmaRequest(inL1, new Iova(0x10_0000), DmaAccess.Read), bytes)));
                        break;
                    }
                }
                if (l2.State == VmmState.Running && !ports.Contains((GuestDmaPort)l2.GuestMachine.Dma)) ports.Add((GuestDmaPort)l2.GuestMachine.Dma);
                foreach (GuestDmaPort port in ports)
                    foreach (SourceId id in port.Passthrough.Select(p => p.Guest).Append(inL1).Append(new SourceId(0, 31, 7)))
                        Assert.Equal(port.Decide(id, cached: false), port.CachedRoute(id));
            }
            if (l1.State == VmmState.Running && l1.VIommu!.TableMode != TranslationTableMode.Scalable) SetRootTable(l1.VIommu, TranslationTableMode.Scalable);
            if (l2.State == VmmState.Running) l2.Quit();
            if (l1.State == VmmState.Running) l1.Quit();
            Assert.Equal(0, host.UserMemory.TotalPins);
        }, seed: 0x70, iterations: 8, print: c => $"{(c.L1Nests ? "nesting L1" : "refusing L1")}: {string.Join(", ", c.Ops)}", shrinkIterations: 50);
    }
}
