namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>Both targets' outcomes of one scenario.</summary>
public sealed record Pair<T>(T Qemu, T Sim);

/// <summary>Runs a scenario on VtdSim and on QEMU 7.2 and compares what they observed.</summary>
public static class Both
{
    /// <summary>Runs <paramref name="scenario"/> on a fresh VtdSim machine, then on a fresh QEMU (always killed afterwards).</summary>
    public static Pair<T> Run<T>(TargetConfig config, Func<IVtdTarget, T> scenario)
    {
        T sim;
        using (var s = new VtdSimTarget(config)) sim = scenario(s);
        T qemu;
        using (var q = new QemuTarget(config)) qemu = scenario(q);
        return new Pair<T>(qemu, sim);
    }

    /// <summary>Asserts that QEMU and VtdSim observed the same thing, and returns it.</summary>
    public static T Agree<T>(this Pair<T> pair)
    {
        if (!EqualityComparer<T>.Default.Equals(pair.Qemu, pair.Sim))
            Assert.Fail($"QEMU 7.2 and VtdSim disagree:\n  QEMU 7.2: {pair.Qemu}\n  VtdSim:   {pair.Sim}");
        return pair.Sim;
    }

    /// <summary>Asserts that QEMU and VtdSim agree on part of what they observed (the rest is a named departure).</summary>
    public static void AgreeOn<T>(this Pair<T> pair, Func<T, object?> select, string what)
    {
        object? q = select(pair.Qemu), s = select(pair.Sim);
        if (!Equals(q, s))
            Assert.Fail($"QEMU 7.2 and VtdSim disagree on {what}: QEMU 7.2 {Show(q)} vs VtdSim {Show(s)}\n  QEMU 7.2: {pair.Qemu}\n  VtdSim:   {pair.Sim}");
    }

    /// <summary>
    /// For a documented departure: asserts each side's own value, so the test fails if either side changes (QEMU fixed
    /// or VtdSim changed), and says what the departure is when it does.
    /// </summary>
    public static void Depart<T>(this Pair<T> pair, Func<T, object?> select, object? qemu, object? sim, string departure)
    {
        object? q = select(pair.Qemu), s = select(pair.Sim);
        if (!Equals(q, qemu) || !Equals(s, sim))
            Assert.Fail($"expected the named departure \"{departure}\": QEMU 7.2 {Show(qemu)} vs VtdSim {Show(sim)}; observed QEMU 7.2 {Show(q)} vs VtdSim {Show(s)}" +
                $"\n  QEMU 7.2: {pair.Qemu}\n  VtdSim:   {pair.Sim}");
    }

    private static string Show(object? o) => o switch
    {
        null => "null",
        byte b => $"0x{b:x2}",
        uint u => $"0x{u:x8}",
        ulong u => $"0x{u:x}",
        _ => o.ToString() ?? "",
    };
}
