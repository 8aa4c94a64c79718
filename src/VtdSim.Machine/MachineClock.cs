namespace VtdSim.Machine;

/// <summary>
/// The machine's time: a nanosecond counter that only moves when a scenario, a test or qtest's clock_step advances it
/// (no wall clock, so every run is the same). Software reads it as Linux reads jiffies; devices schedule their work
/// on it with timers (QEMU_CLOCK_VIRTUAL's timers: edu's DMA 100 ms after the command).
/// </summary>
public sealed class MachineClock
{
    private readonly List<MachineTimer> timers = [];
    private ulong nextSequence;

    public ulong Nanoseconds { get; private set; }

    /// <summary>Timers armed and not yet run.</summary>
    public int PendingTimers { get; private set; }

    /// <summary>A timer that runs <paramref name="callback"/> when the clock reaches the deadline it is armed with.</summary>
    public MachineTimer CreateTimer(Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new MachineTimer(this, callback);
        timers.Add(timer);
        return timer;
    }

    /// <summary>
    /// Moves time forward; it never goes back, and saturates at the top of the counter. On the way, every timer whose
    /// deadline is reached runs, in deadline order (two with the same deadline in the order they were armed), with the
    /// clock standing at its deadline; a timer armed by a callback runs too if its deadline is within the step.
    /// </summary>
    public void Advance(ulong nanoseconds)
    {
        ulong target = ulong.MaxValue - Nanoseconds < nanoseconds ? ulong.MaxValue : Nanoseconds + nanoseconds;
        while (PendingTimers != 0 && Next(target) is { } due)
        {
            Nanoseconds = due.Deadline;
            due.Fire();
        }
        Nanoseconds = target;
    }

    /// <summary>The deadline of the earliest armed timer, if any.</summary>
    public ulong? NextDeadline => PendingTimers == 0 ? null : Next(ulong.MaxValue)?.Deadline;

    private MachineTimer? Next(ulong limit)
    {
        MachineTimer? best = null;
        foreach (MachineTimer t in timers)
        {
            if (!t.Armed || t.Deadline > limit) continue;
            if (best is null || t.Deadline < best.Deadline || (t.Deadline == best.Deadline && t.Sequence < best.Sequence)) best = t;
        }
        return best;
    }

    internal void Arm(MachineTimer timer, ulong deadline)
    {
        if (!timer.Armed) PendingTimers++;
        timer.Set(deadline, nextSequence++);
    }

    internal void Disarm(MachineTimer timer)
    {
        if (timer.Armed) PendingTimers--;
        timer.Clear();
    }
}

/// <summary>
/// One timer of a <see cref="MachineClock"/> (QEMU's QEMUTimer): armed with an absolute deadline (re-arming moves it),
/// cancelled, or run once when the clock reaches the deadline.
/// </summary>
public sealed class MachineTimer
{
    private readonly MachineClock clock;
    private readonly Action callback;

    internal MachineTimer(MachineClock clock, Action callback)
    {
        this.clock = clock;
        this.callback = callback;
    }

    public bool Armed { get; private set; }

    /// <summary>The virtual time it runs at while armed.</summary>
    public ulong Deadline { get; private set; }

    internal ulong Sequence { get; private set; }

    /// <summary>Arms the timer for <paramref name="deadline"/> (timer_mod); a deadline already passed runs at the next <see cref="MachineClock.Advance"/>.</summary>
    public void Schedule(ulong deadline) => clock.Arm(this, deadline);

    /// <summary>Arms the timer <paramref name="nanoseconds"/> from now, saturating at the top of the counter.</summary>
    public void ScheduleIn(ulong nanoseconds) =>
        Schedule(ulong.MaxValue - clock.Nanoseconds < nanoseconds ? ulong.MaxValue : clock.Nanoseconds + nanoseconds);

    /// <summary>Disarms the timer (timer_del); nothing if it is not armed.</summary>
    public void Cancel() => clock.Disarm(this);

    internal void Set(ulong deadline, ulong sequence)
    {
        Deadline = deadline;
        Sequence = sequence;
        Armed = true;
    }

    internal void Clear() => Armed = false;

    internal void Fire()
    {
        clock.Disarm(this);
        callback();
    }
}
