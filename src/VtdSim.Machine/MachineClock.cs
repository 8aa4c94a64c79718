namespace VtdSim.Machine;

/// <summary>
/// The machine's time: a nanosecond counter that only moves when a scenario, a test or qtest's clock_step advances it
/// (no wall clock, so every run is the same). Software reads it as Linux reads jiffies.
/// </summary>
public sealed class MachineClock
{
    public ulong Nanoseconds { get; private set; }

    /// <summary>Moves time forward; it never goes back, and saturates at the top of the counter.</summary>
    public void Advance(ulong nanoseconds) => Nanoseconds = ulong.MaxValue - Nanoseconds < nanoseconds ? ulong.MaxValue : Nanoseconds + nanoseconds;
}
