using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;

namespace VtdSim.Hardware.Events;

/// <summary>Something the remapping unit did that a report or a test may want to see. Sequence numbers are per unit.</summary>
public abstract record VtdEvent(long Sequence);

/// <summary>A translation fault, whether it was recorded in a fault-recording register, and if not, why.</summary>
public sealed record FaultEvent(long Sequence, DmaFault Fault, FaultDisposition Disposition) : VtdEvent(Sequence)
{
    public override string ToString() => $"#{Sequence} {Fault} [{Disposition}]";
}

/// <summary>
/// Erratum 772415: the hardware set A/EA/D in a first-stage entry whose page the second stage maps read-only. The page
/// at <paramref name="EntryHpa"/> (guest address <paramref name="EntryGpa"/>) was modified despite being read-only.
/// </summary>
public sealed record ErratumWriteEvent(long Sequence, SourceId Source, Gpa EntryGpa, Hpa EntryHpa, int Level, ulong OldValue, ulong NewValue)
    : VtdEvent(Sequence)
{
    public override string ToString() =>
        $"#{Sequence} erratum 772415: first-stage L{Level} entry at {EntryGpa} ({EntryHpa}) is read-only in the second stage, " +
        $"yet was written 0x{OldValue:x16} -> 0x{NewValue:x16} for {Source}";
}

/// <summary>A fault event interrupt (MSI) sent through FEADDR/FEDATA because FECTL.IM was clear.</summary>
public sealed record FaultInterruptEvent(long Sequence, ulong Address, uint Data) : VtdEvent(Sequence)
{
    public override string ToString() => $"#{Sequence} fault event interrupt: write 0x{Data:x} to 0x{Address:x}";
}

/// <summary>A register access that software should not have made, and what the unit did about it. Offset −1: outside the register page.</summary>
public sealed record RegisterWarningEvent(long Sequence, int Offset, string Message) : VtdEvent(Sequence)
{
    public override string ToString() => Offset < 0 ? $"#{Sequence} register access: {Message}" : $"#{Sequence} register 0x{Offset:x3}: {Message}";
}
