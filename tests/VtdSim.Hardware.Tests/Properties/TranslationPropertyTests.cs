using System.Text;
using CsCheck;
using Xunit.Abstractions;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;
using F = VtdSim.Hardware.Faults.FaultReason;

namespace VtdSim.Hardware.Tests.Properties;

/// <summary>
/// The engine against <see cref="ReferenceWalker"/> on random tables (see <see cref="ScenarioBuilder"/>), one property
/// per walk kind, each with a fixed seed and iteration count. For every case: the same fault reason, or the same HPA
/// and write permission; the same A/EA/D writes (addresses and values) and nothing else written; the same number of
/// erratum-772415 writes. Each property also checks that the generator reached the outcomes it is meant to reach, so
/// a generator change cannot quietly turn the property into "everything faults at the first entry".
/// </summary>
public class TranslationPropertyTests(ITestOutputHelper output)
{
    private const int Iterations = 5000;
    private const int TapeLength = 320;
    private static readonly Gen<ulong[]> Choices = Gen.ULong.Array[TapeLength];

    [Fact]
    public void LegacySecondLevelWalkMatchesTheReference() =>
        Check(ReferenceMode.LegacySecondLevel, 0x1E6A_C5EC, mustReach:
        [
            F.None, F.LGN1_AddressBeyondWidth, F.LGN2_WriteDenied, F.LGN3_ReadDenied, F.LSL1_PagingEntryAccessError,
            F.LSL2_PagingEntryReserved, F.LGN4_InterruptAddress,
        ]);

    [Fact]
    public void SecondStageOnlyWalkMatchesTheReference() =>
        Check(ReferenceMode.SecondStageOnly, 0x55_0017, mustReach:
        [
            F.None, F.SGN5_AddressBeyondGuestWidth, F.SSS1_EntryAccessError, F.SSS2_EntryNotPresent, F.SSS3_EntryReserved,
            F.SGN6_WriteDenied, F.SGN7_ReadDenied, F.SGN8_InterruptAddress,
        ]);

    [Fact]
    public void FirstStageOnlyWalkMatchesTheReference() =>
        Check(ReferenceMode.FirstStageOnly, 0xF5_0017, mustReach:
        [
            F.None, F.SGN1_NonCanonical, F.SPT6_SupervisorRequestDisabled, F.SFS1_EntryAccessError, F.SFS2_EntryNotPresent,
            F.SFS3_EntryReserved, F.SFS4_TopLevelAccessError, F.SFS9_FlagUpdateNotSnooped, F.SGN2_UserAccessToSupervisorPage,
            F.SGN6_WriteDenied, F.SGN8_InterruptAddress,
        ]);

    [Fact]
    public void NestedWalkMatchesTheReference() =>
        Check(ReferenceMode.Nested, 0x2D_0017, mustReach:
        [
            F.None, F.SGN1_NonCanonical, F.SFS2_EntryNotPresent, F.SFS3_EntryReserved, F.SFS5_TableGpaBeyondWidth,
            F.SFS6_TopLevelNotReadable, F.SFS7_EntryNotReadable, F.SFS8_EntryNotWritable, F.SFS9_FlagUpdateNotSnooped,
            F.SSS2_EntryNotPresent, F.SSS3_EntryReserved, F.SGN2_UserAccessToSupervisorPage, F.SGN6_WriteDenied,
            F.SGN7_ReadDenied,
        ], mustWriteDespiteErratum: true);

    private void Check(ReferenceMode mode, ulong seed, F[] mustReach, bool mustWriteDespiteErratum = false)
    {
        var reached = new Dictionary<F, int>();
        int erratumCases = 0, flagWriteCases = 0;
        PropertyRunner.Run(Choices, choices =>
        {
            var outcome = CompareOnce(mode, choices);
            reached[outcome.Fault] = reached.GetValueOrDefault(outcome.Fault) + 1;
            if (outcome.ErratumWrites != 0) erratumCases++;
            if (outcome.FlagWrites.Count != 0) flagWriteCases++;
        }, seed, Iterations, print: choices => ScenarioBuilder.Build(mode, choices).ToString());

        string distribution = string.Join(", ", reached.OrderByDescending(kv => kv.Value).Select(kv => $"{Name(kv.Key)}={kv.Value}"));
        output.WriteLine($"{mode}: {Iterations} cases; outcomes {distribution}; {flagWriteCases} cases set A/EA/D, {erratumCases} wrote through the erratum");
        foreach (F reason in mustReach)
            Assert.True(reached.GetValueOrDefault(reason) >= 3, $"the generator reached {FaultReasonInfo.Of(reason).Condition} only {reached.GetValueOrDefault(reason)} times: {distribution}");
        Assert.True(reached.GetValueOrDefault(F.None) >= Iterations / 20, $"too few successful translations: {distribution}");
        if (mode is ReferenceMode.FirstStageOnly or ReferenceMode.Nested)
            Assert.True(flagWriteCases >= Iterations / 10, $"only {flagWriteCases} cases set A/EA/D");
        if (mustWriteDespiteErratum)
            Assert.True(erratumCases >= 3, $"only {erratumCases} cases reached an erratum-772415 write");
    }

    /// <summary>Builds one scenario, runs the reference and then the engine, and throws with a full account if they differ.</summary>
    private static ReferenceOutcome CompareOnce(ReferenceMode mode, ulong[] choices)
    {
        Scenario s = ScenarioBuilder.Build(mode, choices);
        ReferenceOutcome expected = ReferenceWalker.Translate(s.Memory, s.Context, s.ReferenceRequest);

        var writes = new List<MemoryWrite>();
        var trace = new WalkTrace();
        int erratumEventsBefore = s.Unit.Events.OfType<ErratumWriteEvent>().Count();
        TranslationResult actual;
        using (s.Memory.ObserveWrites(new Hpa(0), s.Memory.Size, writes.Add))
            actual = s.Unit.Translate(s.Request, trace);

        var problems = new List<string>();
        F actualReason = actual.Fault?.Reason ?? F.None;
        if (actualReason != expected.Fault)
        {
            problems.Add($"fault: expected {Name(expected.Fault)}, engine {Name(actualReason)}{(actual.Fault is { } f ? $" ({f.Explanation})" : "")}");
        }
        else if (expected.Success)
        {
            if (actual.Address.Value != expected.Hpa) problems.Add($"HPA: expected 0x{expected.Hpa:x}, engine 0x{actual.Address.Value:x}");
            bool engineWritable = (actual.Rights & AccessRights.Write) != 0;
            if (engineWritable != expected.Writable) problems.Add($"write permission: expected {expected.Writable}, engine {engineWritable}");
        }

        foreach (var w in writes.Where(w => w.Origin != WriteOrigin.IommuFlagUpdate))
            problems.Add($"unexpected {w.Origin} write of {w.Length} bytes at {w.Address}");
        var written = writes.Where(w => w.Origin == WriteOrigin.IommuFlagUpdate).Select(w => w.Address.Value).ToHashSet();
        if (!written.SetEquals(expected.FlagWrites.Keys))
            problems.Add($"A/EA/D writes: expected at [{Hex(expected.FlagWrites.Keys)}], engine wrote at [{Hex(written)}]");
        foreach (var (address, value) in expected.FlagWrites)
        {
            ulong now = s.Memory.Read64(new Hpa(address));
            if (now != value) problems.Add($"entry at 0x{address:x}: expected 0x{value:x16} after the walk, memory holds 0x{now:x16}");
        }
        int erratumEvents = s.Unit.Events.OfType<ErratumWriteEvent>().Count() - erratumEventsBefore;
        if (erratumEvents != expected.ErratumWrites)
            problems.Add($"erratum-772415 writes: expected {expected.ErratumWrites}, engine reported {erratumEvents}");

        if (problems.Count != 0)
        {
            var sb = new StringBuilder();
            sb.AppendLine($"engine and reference differ for {s}:");
            foreach (var p in problems) sb.AppendLine("  - " + p);
            sb.AppendLine($"  reference: {expected}");
            sb.AppendLine("  engine trace:");
            foreach (var r in trace.References)
                sb.AppendLine($"    {r.Stage} L{r.Level} {r.Kind} at {r.Address} = 0x{r.Value:x16}{(r.Kind != ReferenceKind.Read ? $" -> 0x{r.NewValue:x16}" : "")}{(r.ForFirstStageLevel != 0 ? $" (for FS L{r.ForFirstStageLevel})" : "")}");
            throw new InvalidOperationException(sb.ToString());
        }
        return expected;
    }

    private static string Name(F reason) => reason == F.None ? "success" : $"{FaultReasonInfo.Of(reason).Condition} (0x{(byte)reason:x2})";

    private static string Hex(IEnumerable<ulong> values) => string.Join(", ", values.Order().Select(v => $"0x{v:x}"));
}
