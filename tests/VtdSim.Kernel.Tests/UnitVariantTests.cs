using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Memory;
using VtdSim.Kernel.Tests.Support;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests;

/// <summary>
/// The Intel driver on units that report less than the built-in profiles: no queued invalidation (the CCMD and IOTLB
/// registers, spec 6.5.1), no page-selective invalidation or a small MAMV, a required write-buffer flush (CAP.RWBF),
/// translation left on by firmware, and too few kernel pages. Linux's intel-iommu behaves the same way in each case.
/// </summary>
public class UnitVariantTests
{
    private static readonly SourceId Device = new(0, 2, 0);
    private const ulong DmaIova = 0x10_0000, Page = 0x4000_0000;

    // Register-command fields (spec 11.4.4.1 CCMD, 11.4.8.1 IOTLB_REG): ICC/IVT in bit 63, granularity in 62:61 / 61:60.
    private const ulong Busy = 1UL << 63;
    private static ulong Ccmd(int granularity, ushort did = 0, ushort sid = 0) => Busy | ((ulong)granularity << 61) | ((ulong)sid << 16) | did;
    private static ulong IotlbCommand(int granularity, ushort did = 0) => Busy | ((ulong)granularity << 60) | ((ulong)did << 32);

    /// <summary>QEMU 7.2's legacy-mode unit with ECAP.QI cleared, and whatever else a test changes.</summary>
    private static VtdProfile NoQueuedInvalidation(Func<Capability, Capability>? cap = null)
    {
        var q = BuiltInProfiles.Qemu72Legacy;
        return q with { Name = "qemu-7.2-no-qi", Ecap = q.Ecap.With(1, false), Cap = cap?.Invoke(q.Cap) ?? q.Cap };
    }

    private static (TracedHost Host, IntelIommuDriver Driver, KernelLog Log) Boot(VtdProfile profile, ulong kernelPages = 63UL << 20)
    {
        var host = new TracedHost(profile);
        host.Machine.AddFunction(new PciFunction(Device, "test NIC"));
        var log = new KernelLog();
        var driver = new IntelIommuDriver(host.Machine, new PageAllocator(host.Machine, new Hpa(0x10_0000), kernelPages), log);
        return (host, driver, log);
    }

    private static PagingDomain MappedDomain(IntelIommuDriver driver, ulong length = 0x1000)
    {
        Assert.Equal(Errno.Success, driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(Errno.Success, driver.Attach(Device, domain!));
        Assert.Equal(Errno.Success, domain!.Map(DmaIova, Page, length, IommuProt.Read | IommuProt.Write));
        return domain;
    }

    private static DmaTransferResult Read(TracedHost host, ulong iova) =>
        host.Machine.Dma.Read(new DmaRequest(Device, new Iova(iova), DmaAccess.Read), new byte[8]);

    [Fact]
    public void WithoutQueuedInvalidationTheCachesAreInvalidatedThroughTheCommandRegisters()
    {
        var profile = NoQueuedInvalidation();
        int iva = profile.Ecap.IotlbRegisterOffset, iotlb = iva + 8;
        var (host, driver, log) = Boot(profile);
        Assert.Equal(Errno.Success, driver.Probe());
        Assert.True(log.Contains("dmar0: using legacy mode, register-based invalidation"));
        Assert.Empty(host.WritesTo(RegisterOffset.IQA));                                  // the queue is never set up
        Assert.Equal([Ccmd(1)], host.WritesTo(RegisterOffset.CCMD));                      // global context-cache
        Assert.Equal([IotlbCommand(1)], host.WritesTo(iotlb));                            // global IOTLB

        var domain = MappedDomain(driver);
        ushort did = domain.DomainIdOn(driver.Unit)!.Value;
        Assert.Null(Read(host, DmaIova).Fault);                                              // now in the IOTLB
        int before = host.Writes.Count;
        Assert.Equal(0x1000UL, domain.Unmap(DmaIova, 0x1000));
        // Page-selective: IVA with the page's address, AM=0 and IH=1 (the unmap freed no table, K31), then IIRG=11 for
        // the domain.
        Assert.Equal([DmaIova | 1UL << 6], host.WritesTo(iva, before));
        Assert.Equal([IotlbCommand(3, did)], host.WritesTo(iotlb, before));
        Assert.NotNull(Read(host, DmaIova).Fault);                                           // the cached translation went

        before = host.Writes.Count;
        Assert.Equal(Errno.Success, driver.Attach(Device, driver.Blocked));
        Assert.Equal([Ccmd(3, did, Device.Value)], host.WritesTo(RegisterOffset.CCMD, before)); // device-selective
        Assert.Equal([IotlbCommand(2, did)], host.WritesTo(iotlb, before));                   // domain-selective
    }

    [Theory]
    [InlineData(false, 18, 1)]  // no PSI
    [InlineData(true, 0, 2)]    // PSI, but two pages need AM=1 > MAMV=0
    public void AFlushPageSelectiveInvalidationCannotExpressIsDomainSelective(bool psi, int mamv, int pages)
    {
        var profile = NoQueuedInvalidation(c => c.WithPageSelectiveInvalidation(psi).WithMaximumAddressMaskValue(mamv));
        int iva = profile.Ecap.IotlbRegisterOffset, iotlb = iva + 8;
        var (host, driver, _) = Boot(profile);
        Assert.Equal(Errno.Success, driver.Probe());
        var domain = MappedDomain(driver, (ulong)pages * 0x1000);
        ushort did = domain.DomainIdOn(driver.Unit)!.Value;
        Assert.Null(Read(host, DmaIova + (ulong)(pages - 1) * 0x1000).Fault);

        int before = host.Writes.Count;
        Assert.Equal((ulong)pages * 0x1000, domain.Unmap(DmaIova, (ulong)pages * 0x1000));
        Assert.Empty(host.WritesTo(iva, before));
        Assert.Equal([IotlbCommand(2, did)], host.WritesTo(iotlb, before));
        Assert.NotNull(Read(host, DmaIova + (ulong)(pages - 1) * 0x1000).Fault);
    }

    [Fact]
    public void ScalableModeWithoutQueuedInvalidationDoesNotComeUp()
    {
        // Register-based invalidation is for legacy mode only (spec 6.5; D48), so the driver has no way to flush.
        var sr = BuiltInProfiles.SapphireRapids;
        var (host, driver, log) = Boot(sr with { Name = "sapphire-rapids-no-qi", Ecap = sr.Ecap.With(1, false) });
        Assert.Equal(Errno.ENODEV, driver.Probe());
        Assert.True(log.Contains("dmar0: scalable mode needs queued invalidation"));
        Assert.Empty(host.WritesTo(RegisterOffset.RTADDR));
        Assert.Equal(0u, (uint)host.Machine.Read(host.Machine.IommuBase + RegisterOffset.GSTS, 4) & (uint)GlobalCommand.TranslationEnable);
    }

    [Theory]
    [InlineData("qemu-7.2", 1)]         // the context entry
    [InlineData("sapphire-rapids", 2)]  // the scalable context entry, then the PASID entry
    public void AUnitThatRequiresWriteBufferFlushingGetsOneAfterEachNewEntry(string name, int entries)
    {
        var p = BuiltInProfiles.Find(name);
        var (host, driver, _) = Boot(p with { Name = name + "+rwbf", Cap = p.Cap.WithRequiredWriteBufferFlush(true) });
        Assert.Equal(Errno.Success, driver.Probe());
        Assert.Equal(Errno.Success, driver.AllocPaging(PagingDomainFlags.None, out var domain));
        int before = host.Writes.Count;
        Assert.Equal(Errno.Success, driver.Attach(Device, domain!));
        Assert.Equal(entries, host.WritesTo(RegisterOffset.GCMD, before).Count(v => (v & (ulong)GlobalCommand.WriteBufferFlush) != 0));

        var (plainHost, plain, _) = Boot(p);                           // CAP.RWBF clear: no flush
        Assert.Equal(Errno.Success, plain.Probe());
        Assert.Equal(Errno.Success, plain.AllocPaging(PagingDomainFlags.None, out var other));
        before = plainHost.Writes.Count;
        Assert.Equal(Errno.Success, plain.Attach(Device, other!));
        Assert.DoesNotContain(plainHost.WritesTo(RegisterOffset.GCMD, before), v => (v & (ulong)GlobalCommand.WriteBufferFlush) != 0);
    }

    [Fact]
    public void TranslationLeftOnByFirmwareIsTurnedOffBeforeTheKernelsRootTableIsInstalled()
    {
        var (host, driver, log) = Boot(BuiltInProfiles.SapphireRapids);
        var m = host.Machine;
        m.Write(m.IommuBase + RegisterOffset.RTADDR, 8, 0x7000_0000 | (1UL << 10));   // firmware's own root table
        m.Write(m.IommuBase + RegisterOffset.GCMD, 4, (ulong)GlobalCommand.SetRootTablePointer);
        m.Write(m.IommuBase + RegisterOffset.GCMD, 4, (ulong)GlobalCommand.TranslationEnable);
        int before = host.Writes.Count;

        Assert.Equal(Errno.Success, driver.Probe());
        Assert.True(log.Contains("DMAR: Translation was enabled for dmar0 but we are not in kdump mode"));
        ulong[] gcmd = host.WritesTo(RegisterOffset.GCMD, before);
        Assert.Equal(0UL, gcmd[0] & (ulong)GlobalCommand.TranslationEnable);           // first: TE off
        int offAt = host.Writes.FindIndex(before, w => w.Offset == RegisterOffset.GCMD);
        int rootAt = host.Writes.FindIndex(before, w => w.Offset == RegisterOffset.RTADDR);
        Assert.True(offAt < rootAt);
        Assert.Equal(driver.Unit.RootTable.Value | (1UL << 10), m.Read(m.IommuBase + RegisterOffset.RTADDR, 8));
        Assert.NotEqual(0UL, m.Read(m.IommuBase + RegisterOffset.GSTS, 4) & (ulong)GlobalCommand.TranslationEnable);
    }

    [Fact]
    public void ShutdownTurnsOffTranslationAloneAndTheNextKernelTakesOverTheQueueWithoutAWarning()
    {
        var (host, driver, _) = Boot(BuiltInProfiles.SapphireRapids);
        var m = host.Machine;
        Assert.Equal(Errno.Success, driver.Probe());
        MappedDomain(driver);
        int before = host.Writes.Count;

        driver.Shutdown();                                       // intel_iommu_shutdown before kexec

        Assert.False(driver.Active);
        ulong[] shutdown = host.WritesTo(RegisterOffset.GCMD, before);
        Assert.Equal((ulong)GlobalCommand.QueuedInvalidationEnable, Assert.Single(shutdown));    // TE cleared, QIE kept
        ulong gsts = m.Read(m.IommuBase + RegisterOffset.GSTS, 4);
        Assert.Equal(0UL, gsts & (ulong)GlobalCommand.TranslationEnable);
        Assert.NotEqual(0UL, gsts & (ulong)GlobalCommand.QueuedInvalidationEnable);

        // The kexec'd kernel: a new driver on the same machine finds queued invalidation on, turns it off before it
        // programs its own queue, and never changes two commands in one GCMD write.
        var log = new KernelLog();
        var next = new IntelIommuDriver(m, new PageAllocator(m, new Hpa(0x400_0000), 16UL << 20), log);
        before = host.Writes.Count;
        Assert.Equal(Errno.Success, next.Probe());
        ulong[] gcmd = host.WritesTo(RegisterOffset.GCMD, before);
        Assert.Equal(0UL, gcmd[0]);                              // QIE off first (dmar_disable_qi)
        int qiOffAt = host.Writes.FindIndex(before, w => w.Offset == RegisterOffset.GCMD);
        Assert.True(qiOffAt < host.Writes.FindIndex(before, w => w.Offset == RegisterOffset.IQA));
        Assert.DoesNotContain(host.Unit.Events.OfType<RegisterWarningEvent>(), w => w.Offset == RegisterOffset.GCMD);
        Assert.False(log.Contains("Translation was enabled"));   // the old kernel left it off
        Assert.True(next.Active);
        Assert.NotEqual(0UL, m.Read(m.IommuBase + RegisterOffset.GSTS, 4) & (ulong)GlobalCommand.TranslationEnable);
    }

    [Theory]
    [InlineData(1)]  // the invalidation queue
    [InlineData(2)]  // the queue and its wait-status page, not the root table
    public void TooFewKernelPagesToBringTheUnitUpIsEnomem(int pages)
    {
        var (host, driver, _) = Boot(BuiltInProfiles.SapphireRapids, (ulong)pages * 0x1000);
        Assert.Equal(Errno.ENOMEM, driver.Probe());
        Assert.Equal(0UL, host.Machine.Read(host.Machine.IommuBase + RegisterOffset.GSTS, 4) & (ulong)GlobalCommand.TranslationEnable);
    }

    [Theory]
    [InlineData("qemu-7.2")]
    [InlineData("sapphire-rapids")]
    public void AnAttachThatCannotGetItsTablesIsEnomemAndLeavesTheDeviceBlocked(string name)
    {
        // Probe takes three pages (queue, wait status, root table), the domain one for its own root; the attach then
        // finds no page for the bus's context table.
        var (host, driver, _) = Boot(BuiltInProfiles.Find(name), 4 * 0x1000);
        Assert.Equal(Errno.Success, driver.Probe());
        Assert.Equal(Errno.Success, driver.AllocPaging(PagingDomainFlags.None, out var domain));
        int dids = driver.DomainIdsInUse;

        Assert.Equal(Errno.ENOMEM, driver.Attach(Device, domain!));
        Assert.Same(driver.Blocked, driver.DomainOf(Device));
        Assert.Equal(dids, driver.DomainIdsInUse);
        Assert.Empty(domain!.Devices);
        Assert.NotNull(Read(host, DmaIova).Fault);
    }
}
