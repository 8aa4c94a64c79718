using VtdSim.Machine;

namespace VtdSim.Machine.Tests;

/// <summary>Device timers on the machine clock (QEMU_CLOCK_VIRTUAL's timers, as edu's DMA timer uses them).</summary>
public class MachineClockTests
{
    [Fact]
    public void DueTimersRunInDeadlineOrderWithTheClockAtTheirDeadline()
    {
        var clock = new MachineClock();
        var seen = new List<(string, ulong)>();
        MachineTimer late = clock.CreateTimer(() => seen.Add(("late", clock.Nanoseconds)));
        MachineTimer early = clock.CreateTimer(() => seen.Add(("early", clock.Nanoseconds)));
        MachineTimer never = clock.CreateTimer(() => seen.Add(("never", clock.Nanoseconds)));
        late.Schedule(300);
        early.Schedule(100);
        never.Schedule(1000);

        clock.Advance(99);
        Assert.Empty(seen);
        clock.Advance(400);
        Assert.Equal([("early", 100UL), ("late", 300UL)], seen);
        Assert.Equal(499UL, clock.Nanoseconds);
        Assert.True(never.Armed);
        Assert.Equal(1, clock.PendingTimers);
    }

    [Fact]
    public void TiesRunInTheOrderTheyWereArmedAndReArmingMovesATimer()
    {
        var clock = new MachineClock();
        var seen = new List<string>();
        MachineTimer a = clock.CreateTimer(() => seen.Add("a"));
        MachineTimer b = clock.CreateTimer(() => seen.Add("b"));
        MachineTimer c = clock.CreateTimer(() => seen.Add("c"));
        b.Schedule(50);
        a.Schedule(50);
        c.Schedule(10);
        c.Schedule(50); // re-armed: now the last of the three at 50
        clock.Advance(50);
        Assert.Equal(["b", "a", "c"], seen);
    }

    [Fact]
    public void ACallbackCanArmATimerThatRunsInTheSameStepAndACancelledOneNeverRuns()
    {
        var clock = new MachineClock();
        var seen = new List<ulong>();
        MachineTimer second = clock.CreateTimer(() => seen.Add(clock.Nanoseconds));
        MachineTimer first = clock.CreateTimer(() =>
        {
            seen.Add(clock.Nanoseconds);
            second.ScheduleIn(20);
        });
        MachineTimer cancelled = clock.CreateTimer(() => seen.Add(999));
        first.Schedule(10);
        cancelled.Schedule(15);
        cancelled.Cancel();
        clock.Advance(100);
        Assert.Equal([10UL, 30UL], seen);
        Assert.Equal(0, clock.PendingTimers);
        Assert.Null(clock.NextDeadline);
    }

    [Fact]
    public void TheClockSaturatesAndATimerAtTheTopStillRuns()
    {
        var clock = new MachineClock();
        int runs = 0;
        MachineTimer top = clock.CreateTimer(() => runs++);
        clock.Advance(ulong.MaxValue - 5);
        top.ScheduleIn(100); // saturates at the top of the counter
        Assert.Equal(ulong.MaxValue, top.Deadline);
        clock.Advance(ulong.MaxValue);
        Assert.Equal(ulong.MaxValue, clock.Nanoseconds);
        Assert.Equal(1, runs);
    }
}
