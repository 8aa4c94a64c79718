using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Tests.Properties;

namespace VtdSim.Hardware.Tests.Invalidation;

/// <summary>
/// Queued invalidation under random register programming: IQA (any size, either width), IQT (any value of QT),
/// QIE on and off and FSTS.IQE cleared, in any order, over queues holding no-op waits, valid descriptors and garbage.
/// Every write returns (one pass of the queue at most, D40), and after each one the registers are consistent:
/// IQH lies inside the queue on a descriptor boundary, is 0 while QIE is off, and has reached IQT whenever QIE is on
/// and no queue error is pending.
/// </summary>
public class QueueRegisterPropertyTests
{
    private const ulong QueueBase = 0x40_0000;
    private const uint IqeBit = 1u << 4;

    [Fact]
    public async Task RandomQueueProgrammingNeverSpinsAndKeepsTheHeadConsistent()
    {
        // A watchdog, not a timer assertion: only a write that never returns reaches it.
        await Task.Run(() => PropertyRunner.Run(Gen.Int, CheckSequence, seed: 0x51_D40, iterations: 300)).WaitAsync(TimeSpan.FromMinutes(2));
    }

    private static void CheckSequence(int seed)
    {
        var random = new Random(seed);
        var memory = new PhysicalMemory(1UL << 32);
        var unit = new VtdUnit(memory, random.Next(3) == 0 ? BuiltInProfiles.Qemu72Legacy : BuiltInProfiles.Architectural);
        FillQueue(memory, random);
        for (int step = 0; step < 40; step++)
        {
            string what;
            switch (random.Next(6))
            {
                case 0:
                    ulong iqa = QueueBase | (random.Next(4) == 0 ? 1UL << 11 : 0) | (uint)(random.Next(8) == 0 ? 7 : random.Next(3));
                    unit.WriteRegister64(RegisterOffset.IQA, iqa);
                    what = $"IQA=0x{iqa:x}";
                    break;
                case 1:
                case 2:
                    ulong iqt = random.Next(3) == 0 ? (ulong)random.NextInt64() : (ulong)random.Next(0, 0x1200) & ~0xFUL;
                    unit.WriteRegister64(RegisterOffset.IQT, iqt);
                    what = $"IQT=0x{iqt:x}";
                    break;
                case 3:
                    bool on = random.Next(3) != 0;
                    unit.WriteRegister32(RegisterOffset.GCMD, on ? (uint)GlobalCommand.QueuedInvalidationEnable : 0);
                    what = $"QIE={on}";
                    break;
                case 4:
                    unit.WriteRegister32(RegisterOffset.FSTS, IqeBit);
                    what = "FSTS.IQE cleared";
                    break;
                default:
                    FillQueue(memory, random);
                    what = "queue rewritten";
                    break;
            }
            CheckRegisters(unit, $"step {step} ({what})");
        }
    }

    private static void CheckRegisters(VtdUnit unit, string where)
    {
        ulong iqa = unit.ReadRegister64(RegisterOffset.IQA);
        ulong head = unit.ReadRegister64(RegisterOffset.IQH);
        ulong tail = unit.ReadRegister64(RegisterOffset.IQT);
        int size = (iqa & (1UL << 11)) != 0 ? 32 : 16;
        ulong queueBytes = 4096UL << (int)(iqa & 7);
        bool enabled = (unit.ReadRegister32(RegisterOffset.GSTS) & (uint)GlobalCommand.QueuedInvalidationEnable) != 0;
        bool error = (unit.ReadRegister32(RegisterOffset.FSTS) & IqeBit) != 0;

        Assert.True(head < queueBytes && head % (ulong)size == 0, $"{where}: IQH=0x{head:x} outside a {queueBytes}-byte queue of {size}-byte slots");
        if (!enabled) Assert.True(head == 0, $"{where}: IQH=0x{head:x} while QIE is off");
        if (enabled && !error) Assert.True(head == tail, $"{where}: IQH=0x{head:x} has not reached IQT=0x{tail:x} and no error is pending");
    }

    /// <summary>
    /// Fills the first 8 KiB of the queue, laid out for 128- or 256-bit slots: valid no-op waits and invalidations, and in
    /// half of the fills some garbage (so that whole passes of the queue happen as often as errors).
    /// </summary>
    private static void FillQueue(MachineMemory memory, Random random)
    {
        int slot = random.Next(2) == 0 ? 16 : 32;
        bool garbage = random.Next(2) == 0;
        for (ulong at = 0; at < 0x2000; at += 8)
        {
            ulong word = at % (ulong)slot != 0 ? 0 : random.Next(garbage ? 10 : 9) switch
            {
                9 => (ulong)random.NextInt64(),
                0 => 0x2 | 1UL << 4, // IOTLB global
                1 => 0x1 | 1UL << 4, // context global
                _ => 0x5,            // wait, no status write, no interrupt
            };
            memory.Write64(new Hpa(QueueBase + at), word);
        }
    }
}
