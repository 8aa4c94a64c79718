using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;

namespace VtdSim.Machine.Tests;

/// <summary>A machine that takes its device dispatch from a router (a guest's: its VMM's flat view).</summary>
public class MmioRouterTests
{
    /// <summary>Claims [0x10000, 0x11000): offset 0 refuses, the rest answer their address; everything else is memory.</summary>
    private sealed class Router : IMmioRouter
    {
        public readonly List<(ulong Address, int Size, ulong Value)> Writes = [];

        public MmioOutcome Read(Hpa address, int size, out ulong value)
        {
            value = address.Value;
            if (address.Value is < 0x10000 or >= 0x11000) return MmioOutcome.Memory;
            return address.Value == 0x10000 ? MmioOutcome.Refused : MmioOutcome.Device;
        }

        public MmioOutcome Write(Hpa address, int size, ulong value)
        {
            if (address.Value is < 0x10000 or >= 0x11000) return MmioOutcome.Memory;
            Writes.Add((address.Value, size, value));
            return address.Value == 0x10000 ? MmioOutcome.Refused : MmioOutcome.Device;
        }
    }

    [Fact]
    public void TheRouterTakesWhatItClaimsAndMemoryTheRest()
    {
        var memory = new PhysicalMemory(1UL << 20);
        var interrupts = new InterruptController();
        var router = new Router();
        var machine = new PhysicalMachine(memory, [], new DirectDmaPort(memory, interrupts), interrupts, router);

        Assert.Equal(0x10008UL, machine.Read(new Hpa(0x10008), 4));
        Assert.False(machine.TryRead(new Hpa(0x10000), 2, out ulong refused));
        Assert.Equal(0xffffUL, refused); // a refused load reads all ones
        Assert.True(machine.TryWrite(new Hpa(0x10010), 8, 5));
        Assert.False(machine.TryWrite(new Hpa(0x10000), 4, 6));
        Assert.Equal([(0x10010UL, 8, 5UL), (0x10000UL, 4, 6UL)], router.Writes);
        Assert.Equal(0UL, memory.Read64(new Hpa(0x10010))); // the device's, not memory's

        machine.Write(new Hpa(0x2000), 8, 0x77);
        Assert.Equal(0x77UL, memory.Read64(new Hpa(0x2000)));
        Assert.Equal(0x77UL, machine.Read(new Hpa(0x2000), 8));
        Assert.Same(router, machine.MmioRouter);
    }

    [Fact]
    public void AStoreTheRouterTakesDeliversTheInterruptsItRaised()
    {
        var memory = new PhysicalMemory(1UL << 20);
        var interrupts = new InterruptController();
        int handled = 0;
        Assert.True(interrupts.TryRegister(0x40, () => handled++));
        var router = new SignallingRouter(interrupts);
        var machine = new PhysicalMachine(memory, [], new DirectDmaPort(memory, interrupts), interrupts, router);
        machine.Write(new Hpa(0x10000), 4, 0x40);
        Assert.Equal(1, handled);
    }

    private sealed class SignallingRouter(InterruptController interrupts) : IMmioRouter
    {
        public MmioOutcome Read(Hpa address, int size, out ulong value)
        {
            value = 0;
            return MmioOutcome.Memory;
        }

        public MmioOutcome Write(Hpa address, int size, ulong value)
        {
            interrupts.Signal(InterruptController.MsiWindowBase, (uint)value);
            return MmioOutcome.Device;
        }
    }
}
