using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Registers;
using VtdSim.Machine;

namespace VtdSim.Kernel.Intel;

/// <summary>
/// The driver's window on one remapping unit: 32/64-bit MMIO accesses at its register base, and the GCMD protocol
/// (change one command, then poll GSTS until the unit acknowledges it).
/// </summary>
internal sealed class IommuRegisters(PhysicalMachine machine, Hpa registerBase)
{
    private const int PollLimit = 1000; // the model completes commands at once; a unit that never does is reported
    private const GlobalCommand Persistent = GlobalCommand.TranslationEnable | GlobalCommand.QueuedInvalidationEnable |
        GlobalCommand.InterruptRemappingEnable | GlobalCommand.CompatibilityFormatInterrupt | GlobalCommand.EnableAdvancedFaultLogging;

    public Hpa Base { get; } = registerBase;

    public uint Read32(int offset) => (uint)machine.Read(Base + (ulong)offset, 4);
    public ulong Read64(int offset) => machine.Read(Base + (ulong)offset, 8);
    public void Write32(int offset, uint value) => machine.Write(Base + (ulong)offset, 4, value);
    public void Write64(int offset, ulong value) => machine.Write(Base + (ulong)offset, 8, value);

    /// <summary>Sets or clears one persistent command (TE, QIE, …), keeping the others as GSTS shows them, and waits for GSTS.</summary>
    public bool SetPersistent(GlobalCommand command, bool on)
    {
        var status = (GlobalCommand)Read32(RegisterOffset.GSTS) & Persistent;
        var next = on ? status | command : status & ~command;
        Write32(RegisterOffset.GCMD, (uint)next);
        return Poll(() => (((GlobalCommand)Read32(RegisterOffset.GSTS) & command) != 0) == on);
    }

    /// <summary>Issues a one-shot command (SRTP, WBF) on top of the current persistent state and waits for its status.</summary>
    public bool OneShot(GlobalCommand command, Func<GlobalCommand, bool> done)
    {
        var status = (GlobalCommand)Read32(RegisterOffset.GSTS) & Persistent;
        Write32(RegisterOffset.GCMD, (uint)(status | command));
        return Poll(() => done((GlobalCommand)Read32(RegisterOffset.GSTS)));
    }

    private static bool Poll(Func<bool> condition)
    {
        for (int i = 0; i < PollLimit; i++)
            if (condition()) return true;
        return false;
    }
}
