using VtdSim.Machine;

namespace VtdSim.Kernel;

/// <summary>
/// Linux's ratelimit_state with ___ratelimit's rule: at most <c>burst</c> passes per <c>interval</c>; the interval
/// starts at the first call after the previous one ran out (strictly more than <c>interval</c> later); when a new
/// interval starts after calls were refused, "NAME: N callbacks suppressed" is logged. Time is the machine's clock
/// read as jiffies at HZ=1000 (decisions B13). DEFAULT_RATELIMIT_INTERVAL is 5 s, DEFAULT_RATELIMIT_BURST 10.
/// </summary>
public sealed class RateLimit(MachineClock clock, KernelLog log, string name, ulong intervalMilliseconds = 5000, int burst = 10)
{
    private bool _started;
    private ulong _begin;
    private int _printed;

    /// <summary>Calls refused in the current interval (reported when the next one starts).</summary>
    public int Missed { get; private set; }

    /// <summary>__ratelimit: true if the caller may print.</summary>
    public bool Allow()
    {
        ulong jiffies = clock.Nanoseconds / 1_000_000;
        if (!_started)
        {
            _started = true;
            _begin = jiffies;
        }
        if (jiffies - _begin > intervalMilliseconds)
        {
            if (Missed != 0)
            {
                log.Write("", $"{name}: {Missed} callbacks suppressed");
                Missed = 0;
            }
            _begin = jiffies;
            _printed = 0;
        }
        if (burst > _printed)
        {
            _printed++;
            return true;
        }
        Missed++;
        return false;
    }
}
