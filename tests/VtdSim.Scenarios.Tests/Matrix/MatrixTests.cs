using System.Text.Json;
using VtdSim.Scenarios.Matrix;

namespace VtdSim.Scenarios.Tests.Matrix;

/// <summary>
/// The compatibility matrix: every row is read off a run, so these tests state what must hold across the rows (the
/// thread's reasoning) and check every row against it, rather than a copy of the table (decisions S20–S23).
/// </summary>
public class MatrixTests
{
    /// <summary>The whole matrix, run once for all the tests of the project.</summary>
    internal static readonly Lazy<IReadOnlyList<MatrixRow>> All = new(() => CompatibilityMatrix.Run());

    private static IReadOnlyList<MatrixRow> Rows => All.Value;

    private static bool MapsReadOnlyIntoANestParent(MatrixCell c) => c.Policy == "wants-nesting-maps-ro" && c.Viommu == MatrixViommu.XFlts;

    [Fact]
    public void EveryCombinationIsARowExactlyOnceNumberedInTheMatrixsOrder()
    {
        Assert.Equal(2 * 2 * 4 * 3 * 2, Rows.Count);
        Assert.Equal(Rows.Count, Rows.Select(r => r.Cell).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, Rows.Count), Rows.Select(r => r.Number));
        Assert.Equal(CompatibilityMatrix.Cells(), Rows.Select(r => r.Cell));
        Assert.Equal(Rows.Count, Rows.Select(r => CompatibilityMatrix.Name(r.Cell)).Distinct().Count());
    }

    [Fact]
    public void WhereTheRuleIsOnAndThePolicyMapsReadOnlyIntoANestParentTheVmDoesNotStartWithEinval()
    {
        foreach (MatrixRow r in Rows.Where(r => r.Cell.KernelRule && MapsReadOnlyIntoANestParent(r.Cell)))
        {
            Assert.False(r.VmStarts, r.Cell.ToString());
            Assert.StartsWith("EINVAL: ", r.StoppedBy);
            Assert.Contains("Region pc.rom: vfio_container_dma_map(", r.StoppedBy);
        }
        Assert.Contains(Rows, r => r.Cell.KernelRule && MapsReadOnlyIntoANestParent(r.Cell));
    }

    [Fact]
    public void AVmFailsToStartOnlyByTheRuleOrBecauseQemu72HasNoXFlts()
    {
        foreach (MatrixRow r in Rows)
        {
            bool byRule = r.Cell.KernelRule && MapsReadOnlyIntoANestParent(r.Cell);
            bool noXFlts = r.Cell.Policy == "qemu-7.2" && r.Cell.Viommu == MatrixViommu.XFlts;
            Assert.True(r.VmStarts == !(byRule || noXFlts), r.Cell.ToString());
            if (noXFlts) Assert.Contains("Property 'intel-iommu.x-flts' not found", r.StoppedBy);
            Assert.Equal(r.VmStarts, r.StoppedBy is null);
            Assert.Equal(r.VmStarts, r.Nesting is not null && r.RomRead is not null && r.RomWrite is not null);
        }
    }

    [Fact]
    public void CorruptionIsObservedExactlyWithTheErratumTheRuleOffAReadOnlyMappingPolicyAMaliciousGuestAndNesting()
    {
        foreach (MatrixRow r in Rows)
        {
            MatrixCell c = r.Cell;
            bool expected = c.HostErratum && !c.KernelRule && MapsReadOnlyIntoANestParent(c) && c.Guest == MatrixGuest.Malicious;
            Assert.True(r.ReadOnlyCorrupted == expected, c.ToString());
            Assert.Equal(r.ReadOnlyCorrupted, r.TableWrites > 0);
            if (r.ReadOnlyCorrupted) Assert.True(r.Nesting, c.ToString());
        }
        Assert.Contains(Rows, r => r.ReadOnlyCorrupted);
    }

    [Fact]
    public void TheArchitecturalUnitNeverCorruptsAndFaultsWhereTheErratumWouldWrite()
    {
        Assert.All(Rows.Where(r => !r.Cell.HostErratum), r => Assert.False(r.ReadOnlyCorrupted, r.Cell.ToString()));
        foreach (MatrixRow erratum in Rows.Where(r => r.ReadOnlyCorrupted))
        {
            MatrixRow architectural = Twin(erratum, c => c with { HostErratum = false });
            Assert.Contains("0x77 SFS.8", architectural.GuestSees);
            Assert.Equal("the DMA completes", erratum.GuestSees);
        }
    }

    [Fact]
    public void TheHostsErratumChangesNothingButTheCellsWhereItWritesReadOnlyMemory()
    {
        foreach (MatrixRow withErratum in Rows.Where(r => r.Cell.HostErratum))
        {
            MatrixRow without = Twin(withErratum, c => c with { HostErratum = false });
            if (withErratum.ReadOnlyCorrupted) continue;
            Assert.Equal(Verdicts(withErratum), Verdicts(without));
        }
    }

    [Fact]
    public void NestingIsUsedExactlyWhenAnXFltsVmStarts()
    {
        foreach (MatrixRow r in Rows.Where(r => r.VmStarts))
            Assert.True(r.Nesting == (r.Cell.Viommu == MatrixViommu.XFlts), r.Cell.ToString());
    }

    [Fact]
    public void TheRomIsReachableAsThePolicyMapsIt()
    {
        foreach (MatrixRow r in Rows.Where(r => r.VmStarts))
        {
            MatrixCell c = r.Cell;
            if (c.Policy == "never-ro")
                Assert.True(r.RomRead == true && r.RomWrite == true, c.ToString()); // mapped read-write: a device writes the guest's ROM
            else if (c.Policy == "qemu-11" && c.Viommu == MatrixViommu.XFlts)
            {
                Assert.True(r.RomRead == false && r.RomWrite == false, c.ToString()); // bypass_ro: not mapped at all
                Assert.Contains("0x79 SSS.2", r.RomFault);
            }
            else
            {
                Assert.True(r.RomRead == true && r.RomWrite == false, c.ToString()); // mapped read-only
                Assert.NotNull(r.RomFault);
            }
        }
    }

    [Fact]
    public void ABenignGuestsDmaCompletesWhereverTheVmStarts()
    {
        Assert.All(Rows.Where(r => r.VmStarts && r.Cell.Guest == MatrixGuest.Benign), r => Assert.Equal("the DMA completes", r.GuestSees));
    }

    [Fact]
    public void AMaliciousGuestThatCannotActIsSaidSoAndBehavesAsTheBenignOne()
    {
        foreach (MatrixRow r in Rows.Where(r => r.Cell.Guest == MatrixGuest.Malicious))
        {
            MatrixRow benign = Twin(r, c => c with { Guest = MatrixGuest.Benign });
            Assert.Equal(r.Cell.Viommu != MatrixViommu.XFlts, r.NotApplicable is not null);
            if (r.NotApplicable is not null)
            {
                Assert.Contains("n/a", r.GuestText);
                Assert.Equal(Verdicts(benign), Verdicts(r));
            }
        }
        Assert.All(Rows.Where(r => r.Cell.Guest == MatrixGuest.Benign), r => Assert.Null(r.NotApplicable));
    }

    [Fact]
    public void UnderQemu11AMaliciousTableInTheBypassedRomFaultsAndTheGuestIsTold()
    {
        foreach (MatrixRow r in Rows.Where(r => r.VmStarts && r.Cell is { Policy: "qemu-11", Viommu: MatrixViommu.XFlts, Guest: MatrixGuest.Malicious }))
        {
            Assert.False(r.ReadOnlyCorrupted);
            Assert.StartsWith("the DMA faults", r.GuestSees);
            Assert.Contains("the guest's DMAR logs fault reason", r.GuestSees);
        }
    }

    [Fact]
    public void JsonIsAnArrayOfRowsInAFixedFieldOrderAndTheSameBytesEachRun()
    {
        IReadOnlyList<MatrixCell> sample = [.. CompatibilityMatrix.Cells().Where((_, i) => i % 7 == 0)];
        string first = MatrixOutput.Json(CompatibilityMatrix.Run(sample));
        string second = MatrixOutput.Json(CompatibilityMatrix.Run(sample));
        Assert.Equal(first, second);
        using var doc = JsonDocument.Parse(MatrixOutput.Json(Rows));
        JsonElement[] rows = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(Rows.Count, rows.Length);
        Assert.All(rows, r => Assert.Equal(MatrixOutput.Fields, r.EnumerateObject().Select(p => p.Name)));
        Assert.All(rows.Zip(Rows), p =>
        {
            Assert.Equal(p.Second.Number, p.First.GetProperty("row").GetInt32());
            Assert.Equal(p.Second.VmStarts, p.First.GetProperty("vmStarts").GetBoolean());
            Assert.Equal(p.Second.ReadOnlyCorrupted, p.First.GetProperty("readOnlyCorrupted").GetBoolean());
            JsonElement nesting = p.First.GetProperty("nesting");
            Assert.Equal(p.Second.Nesting, nesting.ValueKind == JsonValueKind.Null ? null : nesting.GetBoolean());
        });
        Assert.Equal(MatrixOutput.Json(CompatibilityMatrix.Run(sample)), first);
    }

    [Fact]
    public void CsvIsRfc4180WithTheJsonFieldsAndReadsBackToTheRows()
    {
        string csv = MatrixOutput.Csv(Rows);
        Assert.EndsWith("\r\n", csv);
        List<string[]> records = Rfc4180.Parse(csv);
        Assert.Equal(MatrixOutput.Fields, records[0]);
        Assert.Equal(Rows.Count + 1, records.Count);
        Assert.All(records, r => Assert.Equal(MatrixOutput.Fields.Count, r.Length));
        foreach ((string[] record, MatrixRow row) in records.Skip(1).Zip(Rows))
        {
            Assert.Equal(row.Cell.ViommuName, record[5]);
            Assert.Equal(row.StoppedBy ?? "", record[8]);
            Assert.Equal(row.GuestSees, record[15]);
            Assert.Equal(row.NotApplicable ?? "", record[16]);
        }
        Assert.Contains("\"legacy,caching-mode\"", csv);
        Assert.Equal("\"say \"\"hi\"\", twice\"", MatrixOutput.CsvField("say \"hi\", twice"));
        Assert.Equal("\"a\r\nb\"", MatrixOutput.CsvField("a\r\nb"));
        Assert.Equal("plain", MatrixOutput.CsvField("plain"));
    }

    private static MatrixRow Twin(MatrixRow row, Func<MatrixCell, MatrixCell> change)
    {
        MatrixCell cell = change(row.Cell);
        return Rows.Single(r => r.Cell == cell);
    }

    /// <summary>What a row says, without which configuration it is.</summary>
    private static object Verdicts(MatrixRow r) => (r.VmStarts, r.StoppedBy, r.Nesting, r.RomRead, r.RomWrite, r.RomFault, r.ReadOnlyCorrupted, r.TableWrites, r.GuestSees);

    /// <summary>A plain RFC 4180 reader (quoted fields, doubled quotes, CRLF records), independent of the writer.</summary>
    private static class Rfc4180
    {
        public static List<string[]> Parse(string text)
        {
            var records = new List<string[]>();
            var fields = new List<string>();
            var field = new System.Text.StringBuilder();
            int i = 0;
            while (i < text.Length)
            {
                if (text[i] == '"')
                {
                    i++;
                    while (true)
                    {
                        if (text[i] == '"' && i + 1 < text.Length && text[i + 1] == '"')
                        {
                            field.Append('"');
                            i += 2;
                        }
                        else if (text[i] == '"')
                        {
                            i++;
                            break;
                        }
                        else
                        {
                            field.Append(text[i++]);
                        }
                    }
                }
                else if (text[i] == ',')
                {
                    fields.Add(field.ToString());
                    field.Clear();
                    i++;
                }
                else if (text[i] == '\r' && text[i + 1] == '\n')
                {
                    fields.Add(field.ToString());
                    field.Clear();
                    records.Add([.. fields]);
                    fields.Clear();
                    i += 2;
                }
                else
                {
                    Assert.NotEqual('\n', text[i]); // a bare line feed outside quotes is not a record end
                    field.Append(text[i++]);
                }
            }
            return records;
        }
    }
}
