using System.Globalization;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Intel.Debugfs;

namespace VtdSim.Kernel.Tests.Debugfs;

/// <summary>
/// The model kernel's debugfs files: their layout and line shapes as Linux 6.7+ prints them, and every entry they show
/// equal to what the unit uses — the tables in machine memory, the registers, and the hardware's own walk.
/// </summary>
public class DebugfsWriterTests
{
    private static ulong Hex(string text) => ulong.Parse(text.StartsWith("0x", StringComparison.Ordinal) ? text[2..] : text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    [Fact]
    public void TheDirectoryHasTheKernelsFilesAndOneDirectoryPerDeviceAndPagingPasid()
    {
        var files = DebugfsSetups.Scalable().Driver.DebugfsFiles();
        Assert.Equal(
        [
            "0000:00:02.0/5/domain_translation_struct", "0000:00:02.0/domain_translation_struct", "0000:00:06.0/domain_translation_struct",
            "0000:01:11.2/domain_translation_struct", "dmar_translation_struct", "invalidation_queue", "iommu_regset",
        ], files.Keys);
    }

    [Fact]
    public void IommuRegsetShowsEveryListedRegisterAsTheUnitReadsIt()
    {
        var bench = DebugfsSetups.Scalable();
        string[] lines = bench.Driver.DebugfsFiles()["iommu_regset"].Split('\n');
        Assert.Equal($"IOMMU: dmar0 Register Base Address: {bench.Machine.IommuBase.Value:x}", lines[0]);
        Assert.Equal("Name\t\t\tOffset\t\tContents", lines[1]);
        for (int i = 0; i < DebugfsLayout.Registers.Count; i++)
        {
            var r = DebugfsLayout.Registers[i];
            string[] cols = lines[2 + i].Split('\t');
            Assert.Equal(r.Name.PadRight(16), cols[0]);
            Assert.Equal($"0x{r.Offset:x2}", cols[1]);
            Assert.Equal(18, cols[3].Length);
            ulong expected = bench.Machine.Read(bench.Machine.IommuBase + (ulong)r.Offset, r.Wide ? 8 : 4);
            Assert.Equal(expected, Hex(cols[3]));
        }
        Assert.Equal("", lines[2 + DebugfsLayout.Registers.Count]);
        Assert.Equal(bench.Driver.HwInfo().CapReg, Hex(lines.Single(l => l.StartsWith("CAP ", StringComparison.Ordinal)).Split('\t')[^1]));
    }

    [Fact]
    public void DmarTranslationStructShowsEachPresentPasidEntryAsTheUnitHoldsIt()
    {
        var bench = DebugfsSetups.Scalable();
        var unit = bench.Driver.Unit;
        string[] lines = bench.Driver.DebugfsFiles()["dmar_translation_struct"].Split('\n');
        Assert.Equal($"IOMMU dmar0: Root Table Address: 0x{unit.RootTable.Value:x}", lines[0]);
        Assert.Equal(DebugfsLayout.TranslationHeader, lines[1]);
        // 01:11.2 is not listed: its bus has no lower context table, and Linux's walk ends a bus at the first devfn
        // without one (decision I23).
        var expected = new[] { (DebugfsSetups.Nic, 0u), (DebugfsSetups.Nic, 5u), (DebugfsSetups.Second, 0u) };
        Assert.Equal(expected.Length + 4, lines.Length); // header 2, one per entry, a blank line, the final newline
        for (int i = 0; i < expected.Length; i++)
        {
            var (device, pasid) = expected[i];
            string[] cols = lines[2 + i].Split('\t');
            Assert.Equal($"{device.Bus:x2}:{device.Device:x2}.{device.Function:x}", cols[0]);
            ulong root = unit.RootTable.Value + device.Bus * 16UL;
            Assert.Equal($"0x{bench.Machine.Read(new Hpa(root + 8), 8):x16}:0x{bench.Machine.Read(new Hpa(root), 8):x16}", cols[1]);
            ulong table = (device.DevFn >= 0x80 ? bench.Machine.Read(new Hpa(root + 8), 8) : bench.Machine.Read(new Hpa(root), 8)) & ~0xFFFUL;
            ulong ctx = table + (ulong)(device.DevFn & 0x7F) * 32;
            Assert.Equal($"0x{bench.Machine.Read(new Hpa(ctx + 8), 8):x16}:0x{bench.Machine.Read(new Hpa(ctx), 8):x16}", cols[2]);
            Assert.Equal(pasid.ToString(CultureInfo.InvariantCulture).PadRight(6), cols[3]);
            var entry = unit.ReadPasidEntry(device, pasid);
            Assert.Equal($"0x{entry.Q2:x16}:0x{entry.Q1:x16}:0x{entry.Q0:x16}", cols[4]);
        }
        Assert.Equal("", lines[^2]);
        Assert.DoesNotContain(lines, l => l.StartsWith("01:", StringComparison.Ordinal));
        Assert.True(unit.ReadPasidEntry(DebugfsSetups.Upper, 0).Present);
    }

    [Fact]
    public void LegacyModeLinesCarryPasidMinusOneAndNoPasidEntry()
    {
        var bench = DebugfsSetups.Legacy();
        string[] lines = bench.Driver.DebugfsFiles()["dmar_translation_struct"].Split('\n');
        Assert.Equal(2, lines.Count(l => l.Contains("\t-1    \t0x0000000000000000:0x0000000000000000:0x0000000000000000", StringComparison.Ordinal)));
        Assert.StartsWith("00:02.0\t", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("00:06.0\t", lines[3], StringComparison.Ordinal);
    }

    public static TheoryData<string> Setups() => ["scalable", "legacy", "hazard"];

    private static KernelBench Build(string setup) => setup switch
    {
        "scalable" => DebugfsSetups.Scalable(),
        "legacy" => DebugfsSetups.Legacy(),
        _ => DebugfsSetups.VgaBiosHazard(),
    };

    /// <summary>Every leaf line: the IOVA the hardware translates to the page its last entry names, with the rights it gives.</summary>
    [Theory]
    [MemberData(nameof(Setups))]
    public void EachLeafLineIsWhatTheHardwareWalkUses(string setup)
    {
        var bench = Build(setup);
        var unit = bench.Machine.HardwareIommu!;
        int checkedLeaves = 0;
        foreach (var (path, text) in bench.Driver.DebugfsFiles().Where(f => f.Key.EndsWith("domain_translation_struct", StringComparison.Ordinal)))
        {
            string[] parts = path.Split('/');
            var device = new SourceId(int.Parse(parts[0][5..7], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                int.Parse(parts[0][8..10], NumberStyles.HexNumber, CultureInfo.InvariantCulture), parts[0][11] - '0');
            uint? pasid = parts.Length == 3 ? uint.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) : null;
            var domain = bench.Driver.DomainOf(device, pasid ?? 0);
            string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (domain is IdentityDomain && !bench.Driver.ScalableMode)
            {
                // A pass-through context entry has no table: the header and no leaf (decision I24).
                Assert.Equal([$"Device 0000:{device.Bus:x2}:{device.Device:x2}.{device.Function:x} @0x0", DebugfsLayout.PageTableHeader], lines);
                continue;
            }
            if (domain is IdentityDomain or BlockedDomain)
            {
                Assert.Empty(lines);
                continue;
            }
            Assert.StartsWith($"Device 0000:{device.Bus:x2}:{device.Device:x2}.{device.Function:x} ", lines[0], StringComparison.Ordinal);
            Assert.Equal(DebugfsLayout.PageTableHeader, lines[1]);
            var table = domain is NestedDomain n ? n.Parent.Table : ((PagingDomain)domain).Table;
            Assert.EndsWith($"@0x{table.Root.Value:x}", lines[0], StringComparison.Ordinal);
            var leaves = new List<(ulong Iova, ulong Entry)>();
            table.ForEachLeaf((iova, _, value, _) => leaves.Add((iova, value)));
            Assert.Equal(leaves.Count, lines.Length - 2);
            for (int i = 0; i < leaves.Count; i++)
            {
                string[] cols = lines[2 + i].Split(" |\t");
                ulong iova = Hex(cols[0]) << 12;
                ulong leaf = Hex(cols[1].Split('\t')[^1]);
                Assert.Equal(leaves[i], (iova, leaf));
                if (domain is NestedDomain) continue; // its RID walks the guest's first stage; the table shown is the parent's
                var result = unit.Translate(new DmaRequest(device, new Iova(iova), DmaAccess.Read, pasid));
                Assert.True(result.Success, $"{path}: IOVA 0x{iova:x}: {result.Fault}");
                Assert.Equal(leaf & 0x000F_FFFF_FFFF_F000 & ~(result.PageSize - 1), result.Address.Value & ~(result.PageSize - 1));
                checkedLeaves++;
            }
        }
        Assert.True(checkedLeaves > 0 || setup == "hazard");
    }

    [Fact]
    public void InvalidationQueueShowsTheQueueTheUnitReadsWithHeadAndTailAsSlots()
    {
        var bench = DebugfsSetups.Scalable();
        string[] lines = bench.Driver.DebugfsFiles()["invalidation_queue"].Split('\n');
        var m = bench.Machine;
        ulong iqa = m.Read(m.IommuBase + RegisterOffset.IQA, 8);
        Assert.Equal("Invalidation queue on IOMMU: dmar0", lines[0]);
        Assert.Equal($" Base: 0x{iqa & ~0xFFFUL:x}\tHead: {m.Read(m.IommuBase + RegisterOffset.IQH, 8) >> 5}\tTail: {m.Read(m.IommuBase + RegisterOffset.IQT, 8) >> 5}", lines[1]);
        Assert.Equal(DebugfsLayout.WideQueueHeader, lines[2]);
        Assert.Equal(128 + 5, lines.Length); // 128 256-bit slots in the model's one-page queue
        for (int i = 0; i < 128; i++)
        {
            ulong slot = (iqa & ~0xFFFUL) + (ulong)i * 32;
            Assert.Equal($"{i,5}\t{m.Read(new Hpa(slot), 8):x16}\t{m.Read(new Hpa(slot + 8), 8):x16}\t{m.Read(new Hpa(slot + 16), 8):x16}\t{m.Read(new Hpa(slot + 24), 8):x16}\t{0:x16}",
                lines[3 + i]);
        }
        Assert.Contains(lines, l => l.Length > 6 && !l.Contains("\t0000000000000000\t0000000000000000\t0000000000000000\t0000000000000000\t", StringComparison.Ordinal) && char.IsAsciiDigit(l[4]));
    }

    [Fact]
    public void ADriverThatHasNotTakenAUnitHasNoDirectory()
    {
        var machine = Machine.PhysicalMachine.Host(Hardware.Profiles.BuiltInProfiles.SapphireRapids, 1UL << 30);
        var driver = new IntelIommuDriver(machine, new Kernel.Memory.PageAllocator(machine, new Hpa(0x10_0000), 1UL << 20), new KernelLog());
        Assert.Empty(driver.DebugfsFiles());
    }
}
