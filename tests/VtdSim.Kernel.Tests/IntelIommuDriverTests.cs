using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Kernel.Intel;

namespace VtdSim.Kernel.Tests;

public class IntelIommuDriverTests
{
    [Theory]
    [InlineData("sapphire-rapids", true)]
    [InlineData("qemu-7.2", false)]
    [InlineData("qemu-7.2-scalable", true)]
    public void ProbeEnablesTranslationWithQueuedInvalidationInTheRightMode(string profile, bool scalable)
    {
        var bench = new KernelBench(BuiltInProfiles.Find(profile));
        uint gsts = (uint)bench.Machine.Read(bench.Machine.IommuBase + RegisterOffset.GSTS, 4);
        Assert.True((gsts & (uint)GlobalCommand.TranslationEnable) != 0);
        Assert.True((gsts & (uint)GlobalCommand.QueuedInvalidationEnable) != 0);
        Assert.Equal(scalable, bench.Driver.ScalableMode);
        Assert.Equal(scalable, bench.Machine.HardwareIommu!.TableMode == Hardware.Translation.TranslationTableMode.Scalable);
    }

    [Theory]
    [InlineData("sapphire-rapids", PagingDomainFlags.None, PagingFormat.FirstStage)]
    [InlineData("sapphire-rapids", PagingDomainFlags.NestParent, PagingFormat.SecondStage)]
    [InlineData("qemu-7.2", PagingDomainFlags.None, PagingFormat.SecondStage)]
    [InlineData("qemu-7.2-scalable", PagingDomainFlags.None, PagingFormat.SecondStage)]
    public void AMappedPageIsReachableByDmaAndAnUnmappedOneFaults(string profile, PagingDomainFlags flags, PagingFormat format)
    {
        var bench = new KernelBench(BuiltInProfiles.Find(profile));
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(flags, out var domain));
        Assert.Equal(format, domain!.Format);
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, domain));
        bench.Machine.Memory.Write(new Hpa(0x4000_0000), "hello, DMA"u8);

        Assert.Equal(Errno.Success, domain.Map(0x10_0000, 0x4000_0000, 0x1000, IommuProt.Read | IommuProt.Write));
        var buffer = new byte[10];
        Assert.True(bench.DmaRead(0x10_0000, buffer).Completed);
        Assert.Equal("hello, DMA"u8.ToArray(), buffer);

        Assert.Equal(0x1000UL, domain.Unmap(0x10_0000, 0x1000));
        var after = bench.DmaRead(0x10_0000, buffer);
        Assert.NotNull(after.Fault);
    }

    [Fact]
    public void ReadOnlyMapOfANestParentIsRefusedWithTheErratumMessage()
    {
        var bench = new KernelBench();
        bench.Driver.AllocPaging(PagingDomainFlags.NestParent, out var parent);

        Assert.Equal(Errno.EINVAL, parent!.Map(0, 0x4000_0000, 0x1000, IommuProt.Read));
        Assert.Contains("DMAR: " + PagingDomain.ErratumMessage, bench.Log.Lines);
        Assert.Null(parent.Table.Lookup(0));
    }

    [Fact]
    public void WithTheRuleOffAsBeforeLinux67TheReadOnlyMapGoesThrough()
    {
        var bench = new KernelBench(options: new IntelIommuOptions { EnforceErratum772415 = false });
        bench.Driver.AllocPaging(PagingDomainFlags.NestParent, out var parent);

        Assert.Equal(Errno.Success, parent!.Map(0, 0x4000_0000, 0x1000, IommuProt.Read));
    }

    [Fact]
    public void LargeAlignedRangesUseLargePagesAndUnmapFreesTheTablesItCoversWhole()
    {
        var bench = new KernelBench();
        bench.Driver.AllocPaging(PagingDomainFlags.NestParent, out var domain);
        int before = bench.Pages.PagesInUse;

        Assert.Equal(Errno.Success, domain!.Map(0x4000_0000, 0x8000_0000, 0x4020_0000, IommuProt.Read | IommuProt.Write));
        Assert.Equal(1UL << 30, domain.Table.Lookup(0x4000_0000)!.Value.PageSize);
        Assert.Equal(2UL << 20, domain.Table.Lookup(0x8000_0000)!.Value.PageSize);

        Assert.Equal(0x4020_0000UL, domain.Unmap(0x4000_0000, 0x4020_0000));
        // The range covers none of the tables on the way whole (a level-2 table spans 1 GiB, the 2 MiB page only part
        // of it): the one table per level below the root stays, as in Linux (K31).
        Assert.Equal(domain.Levels - 1, domain.Table.TablePages);
        Assert.Equal(before + domain.Levels - 2, bench.Pages.PagesInUse);
        Assert.Equal(0UL, domain.Unmap(0, domain.Aperture));
        Assert.Equal(before, bench.Pages.PagesInUse);
    }

    [Fact]
    public void NestedDomainOverANestParentTranslatesTheGuestFirstStage()
    {
        var bench = new KernelBench();
        bench.Driver.AllocPaging(PagingDomainFlags.NestParent, out var parent);
        // Guest RAM: GPA 0..16 MiB at HPA 1 GiB. The guest's 4-level first stage maps GVA 0x7000_0000 → GPA 0x80_0000.
        const ulong guest = 0x4000_0000;
        Assert.Equal(Errno.Success, parent!.Map(0, guest, 16 << 20, IommuProt.Read | IommuProt.Write));
        ulong[] tables = [0x1000, 0x2000, 0x3000, 0x4000];
        ulong gva = 0x7000_0000;
        for (int level = 4; level >= 1; level--)
        {
            ulong index = (gva >> (12 + 9 * (level - 1))) & 0x1FF;
            ulong entry = level == 1 ? 0x80_0000UL | 0x7 : tables[5 - level] | 0x7;
            bench.Machine.Memory.Write64(new Hpa(guest + tables[4 - level] + index * 8), entry);
        }
        bench.Machine.Memory.Write(new Hpa(guest + 0x80_0000), "nested!"u8);
        Assert.Equal(Errno.Success, bench.Driver.AllocNested(parent, new VtdS1Config(VtdS1Flags.None, 0x1000, 48), out var nested));
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, nested!));

        var buffer = new byte[7];
        Assert.True(bench.DmaRead(gva, buffer).Completed);
        Assert.Equal("nested!"u8.ToArray(), buffer);
    }

    [Fact]
    public void DetachingToBlockedMakesDmaFault()
    {
        var bench = new KernelBench();
        bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain);
        bench.Driver.Attach(KernelBench.Device, domain!);
        domain!.Map(0, 0x4000_0000, 0x1000, IommuProt.Read);

        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, bench.Driver.Blocked));

        var r = bench.DmaRead(0, new byte[8]);
        Assert.Equal(FaultReason.SPT2_PasidEntryNotPresent, r.Fault?.Reason);
        Assert.Empty(domain.Devices);
    }
}

/// <summary>Memory follows what is mapped, not the address space (issue 4): page-table pages grow with the mappings.</summary>
public class PageTableMemoryTests
{
    [Fact]
    public void SparseMappingsCostTablePagesPerMappingNotPerAddressSpace()
    {
        var bench = new KernelBench();
        bench.Driver.AllocPaging(PagingDomainFlags.NestParent, out var domain);
        int levels = domain!.Levels;

        // 16 pages spread 64 GiB apart over a 1 TiB range: each needs its own path below the top-level table.
        for (ulong i = 0; i < 16; i++)
            Assert.Equal(Errno.Success, domain.Map(i << 36, 0x4000_0000 + (i << 12), 0x1000, IommuProt.Read | IommuProt.Write));

        Assert.True(domain.Table.TablePages <= 1 + 16 * (levels - 1), $"{domain.Table.TablePages} table pages for 16 mappings");

        // A 1 GiB-aligned range maps with 1 GiB pages: 256 GiB of mappings add only a couple of table pages.
        int before = domain.Table.TablePages;
        Assert.Equal(Errno.Success, domain.Map(1UL << 40, 1UL << 40, 256UL << 30, IommuProt.Read | IommuProt.Write));
        Assert.True(domain.Table.TablePages - before <= levels - 2, $"{domain.Table.TablePages - before} new table pages for 256 GiB of 1 GiB pages");
    }
}
