using System.Reflection;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Tests.Support;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>
/// The standard "every fault reason code the model can raise has a test that raises it", checked: every
/// <see cref="FaultReason"/> must be named by a [FaultCoverage] mark on a test that runs (not skipped).
/// </summary>
public class FaultCoverageTests
{
    /// <summary>
    /// Codes the model never raises, with the reason: page requests are not modelled (decisions D15); a scalable context
    /// entry that asks for a feature the unit lacks sets a reserved field, SCT.3, and the model knows no other SCT.4 case (D47).
    /// </summary>
    private static readonly FaultReason[] NeverRaised =
    [
        FaultReason.None,
        FaultReason.RTA3_PageRequestInLegacyMode,
        FaultReason.SCT8_PageRequestDisabled,
        FaultReason.SCT4_ContextInvalid,
    ];

    [Fact]
    public void EveryFaultReasonTheModelCanRaiseHasARunningTest()
    {
        var covered = typeof(FaultCoverageTests).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods())
            .Where(m => m.GetCustomAttribute<FactAttribute>() is { Skip: null })
            .SelectMany(m => m.GetCustomAttributes<FaultCoverageAttribute>())
            .Select(a => a.Reason)
            .ToHashSet();

        var missing = Enum.GetValues<FaultReason>().Except(NeverRaised).Where(r => !covered.Contains(r))
            .Select(r => $"{FaultReasonInfo.Of(r).Condition} (0x{(byte)r:x2})").ToList();

        Assert.True(missing.Count == 0, $"no running test raises: {string.Join(", ", missing)}");
    }

    [Fact]
    public void FaultCoverageMarksAreOnlyOnTests()
    {
        var stray = typeof(FaultCoverageTests).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static))
            .Where(m => m.IsDefined(typeof(FaultCoverageAttribute)) && !m.IsDefined(typeof(FactAttribute), inherit: true))
            .Select(m => $"{m.DeclaringType?.Name}.{m.Name}")
            .ToList();

        Assert.Empty(stray);
    }
}
