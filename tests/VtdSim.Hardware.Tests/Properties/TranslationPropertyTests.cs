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
/// per walk kind, each with a fixed seed and iteration count. Each case sends a sequence of requests against one image
/// without a reset — on a unit without caches, with the profile's caches, or with tiny ones — mixing privileged and
/// user requests, reads (some of them execute requests), writes and atomics, repeats of the same page (which the IOTLB and the memo in front of it
/// answer), other offsets of the same large pages and offsets aimed at the interrupt range's edges. For every request:
/// the same fault reason, or the same HPA and write permission; the same first- and second-stage A/EA/D writes, word
/// by word (addresses and values), and nothing else written; the same number of erratum-772415 writes. Each property
/// also checks that the generator reached the outcomes it is meant to reach, so a generator change cannot quietly turn
/// the property into "everything faults at the first entry", and that caches answered some of the requests.
/// </summary>
public class TranslationPropertyTests(ITestOutputHelper output)
{
    private const int Iterations = 5000;
    private const int TapeLength = 640;
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
            F.SSS5_FlagUpdateNotSnooped, F.SGN6_WriteDenied, F.SGN7_ReadDenied, F.SGN8_InterruptAddress,
        ], mustSetSecondStageFlags: true);

    [Fact]
    public void FirstStageOnlyWalkMatchesTheReference() =>
        Check(ReferenceMode.FirstStageOnly, 0xF5_0017, mustReach:
        [
            F.None, F.SGN1_NonCanonical, F.SPT6_SupervisorRequestDisabled, F.SFS1_EntryAccessError, F.SFS2_EntryNotPresent,
            F.SFS3_EntryReserved, F.SFS4_TopLevelAccessError, F.SFS9_FlagUpdateNotSnooped, F.SGN2_UserAccessToSupervisorPage,
            F.SGN6_WriteDenied, F.SGN8_InterruptAddress, F.SPT5_ExecuteRequestDisabled, F.SGN3_ExecuteDenied,
        ]);

    [Fact]
    public void NestedWalkMatchesTheReference() =>
        Check(ReferenceMode.Nested, 0x2D_0017, mustReach:
        [
            F.None, F.SGN1_NonCanonical, F.SFS2_EntryNotPresent, F.SFS3_EntryReserved, F.SFS5_TableGpaBeyondWidth,
            F.SFS6_TopLevelNotReadable, F.SFS7_EntryNotReadable, F.SFS8_EntryNotWritable, F.SFS9_FlagUpdateNotSnooped,
            F.SSS2_EntryNotPresent, F.SSS3_EntryReserved, F.SSS5_FlagUpdateNotSnooped, F.SGN2_UserAccessToSupervisorPage,
            F.SGN6_WriteDenied, F.SGN7_ReadDenied, F.SGN8_InterruptAddress, F.SPT5_ExecuteRequestDisabled, F.SGN3_ExecuteDenied,
        ], mustWriteDespiteErratum: true, mustSetSecondStageFlags: true, mustRefuseWritesWithSsade: true);

    private void Check(ReferenceMode mode, ulong seed, F[] mustReach, bool mustWriteDespiteErratum = false, bool mustSetSecondStageFlags = false,
        bool mustRefuseWritesWithSsade = false)
    {
        var reached = new Dictionary<F, int>();
        int requests = 0, erratumCases = 0, flagWriteCases = 0, secondStageFlagCases = 0, answeredByCaches = 0, laterSuccesses = 0, refusedDirty = 0;
        PropertyRunner.Run(Choices, choices =>
        {
            var tally = CompareAll(mode, choices);
            for (int i = 0; i < tally.Outcomes.Count; i++)
            {
                var outcome = tally.Outcomes[i];
                requests++;
                reached[outcome.Fault] = reached.GetValueOrDefault(outcome.Fault) + 1;
                if (outcome.ErratumWrites != 0) erratumCases++;
                if (outcome.FlagWrites.Count != 0) flagWriteCases++;
                if (i > 0 && outcome.Success) laterSuccesses++;
            }
            secondStageFlagCases += tally.SecondStageFlagWrites;
            answeredByCaches += tally.AnsweredByCaches;
            refusedDirty += tally.RefusedDirtyUpdates;
        }, seed, Iterations, print: choices => ScenarioBuilder.Build(mode, choices).ToString());

        string distribution = string.Join(", ", reached.OrderByDescending(kv => kv.Value).Select(kv => $"{Name(kv.Key)}={kv.Value}"));
        output.WriteLine($"{mode}: {Iterations} cases, {requests} requests; outcomes {distribution}; {flagWriteCases} requests set A/EA/D " +
            $"({secondStageFlagCases} in the second stage), {erratumCases} wrote through the erratum; {answeredByCaches} IOTLB hits; {laterSuccesses} later requests succeeded; " +
            $"{refusedDirty} writes with SSADE refused at the first stage's D update");
        foreach (F reason in mustReach)
            Assert.True(reached.GetValueOrDefault(reason) >= 3, $"the generator reached {FaultReasonInfo.Of(reason).Condition} only {reached.GetValueOrDefault(reason)} times: {distribution}");
        Assert.True(reached.GetValueOrDefault(F.None) >= requests / 20, $"too few successful translations: {distribution}");
        Assert.True(laterSuccesses >= Iterations / 10, $"only {laterSuccesses} requests after the first of their case succeeded");
        Assert.True(answeredByCaches >= Iterations / 20, $"the caches answered only {answeredByCaches} requests");
        if (mode is ReferenceMode.FirstStageOnly or ReferenceMode.Nested)
            Assert.True(flagWriteCases >= Iterations / 10, $"only {flagWriteCases} requests set A/EA/D");
        if (mustSetSecondStageFlags)
            Assert.True(secondStageFlagCases >= Iterations / 20, $"only {secondStageFlagCases} requests set a second-stage A/D");
        if (mustWriteDespiteErratum)
            Assert.True(erratumCases >= 3, $"only {erratumCases} requests reached an erratum-772415 write");
        if (mustRefuseWritesWithSsade)
            Assert.True(refusedDirty >= 3, $"only {refusedDirty} writes with SSADE were refused at the first stage's D update");
    }

    /// <summary>
    /// A case's outcomes, and counts of what it exercised: requests that set a second-stage flag, that the IOTLB answered,
    /// and writes refused (SFS.8/SFS.9) with SSADE on, where a second-stage D set too early would show (issue 8, item 3).
    /// </summary>
    private sealed record Tally(IReadOnlyList<ReferenceOutcome> Outcomes, int SecondStageFlagWrites, int AnsweredByCaches, int RefusedDirtyUpdates);

    /// <summary>Builds one scenario and sends its requests in order, each to the reference and then to the engine, on the same memory.</summary>
    private static Tally CompareAll(ReferenceMode mode, ulong[] choices)
    {
        Scenario s = ScenarioBuilder.Build(mode, choices);
        var outcomes = new List<ReferenceOutcome>();
        int secondStageFlagWrites = 0, answeredByCaches = 0, refusedDirty = 0;
        for (int i = 0; i < s.Requests.Count; i++)
        {
            long hitsBefore = s.Unit.Caches.Iotlb.Statistics.Hits;
            var (outcome, ssWrites) = CompareOnce(s, i);
            outcomes.Add(outcome);
            secondStageFlagWrites += ssWrites ? 1 : 0;
            if (s.Unit.Caches.Iotlb.Statistics.Hits != hitsBefore) answeredByCaches++;
            if (s.Context.SecondStageAccessedDirty && s.Requests[i].Reference.NeedsWrite && outcome.Fault is F.SFS8_EntryNotWritable or F.SFS9_FlagUpdateNotSnooped)
                refusedDirty++;
        }
        return new Tally(outcomes, secondStageFlagWrites, answeredByCaches, refusedDirty);
    }

    /// <summary>Sends request <paramref name="index"/> to the reference, then to the engine, and throws with a full account if they differ.</summary>
    private static (ReferenceOutcome Outcome, bool SecondStageFlagWrites) CompareOnce(Scenario s, int index)
    {
        var (request, reference) = s.Requests[index];
        ReferenceOutcome expected = ReferenceWalker.Translate(s.Memory, s.Context, reference);

        var writes = new List<MemoryWrite>();
        WalkTrace? trace = s.Traced[index] ? new WalkTrace() : null;
        int erratumEventsBefore = s.Unit.Events.OfType<ErratumWriteEvent>().Count();
        TranslationResult actual;
        using (s.Memory.ObserveWrites(new Hpa(0), s.Memory.Size, writes.Add))
            actual = s.Unit.Translate(request, trace);

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
            sb.AppendLine($"engine and reference differ at request [{index}] of {s}:");
            foreach (var p in problems) sb.AppendLine("  - " + p);
            sb.AppendLine($"  reference: {expected}");
            if (trace is null)
            {
                sb.AppendLine("  (this request ran without a trace)");
            }
            else
            {
                sb.AppendLine($"  engine trace{(trace.CacheHits.Count != 0 ? $" (cache hits: {string.Join(", ", trace.CacheHits)})" : "")}:");
                foreach (var r in trace.References)
                    sb.AppendLine($"    {r.Stage} L{r.Level} {r.Kind} at {r.Address} = 0x{r.Value:x16}{(r.Kind != ReferenceKind.Read ? $" -> 0x{r.NewValue:x16}" : "")}{(r.ForFirstStageLevel != 0 ? $" (for FS L{r.ForFirstStageLevel})" : "")}");
            }
            throw new InvalidOperationException(sb.ToString());
        }
        return (expected, expected.SecondStageFlagWrites != 0);
    }

    private static string Name(F reason) => reason == F.None ? "success" : $"{FaultReasonInfo.Of(reason).Condition} (0x{(byte)reason:x2})";

    private static string Hex(IEnumerable<ulong> values) => string.Join(", ", values.Order().Select(v => $"0x{v:x}"));
}
