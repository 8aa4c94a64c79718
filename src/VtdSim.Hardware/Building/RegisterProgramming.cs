using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Building;

/// <summary>The register sequences software uses to bring a unit up, written as a driver writes them (one GCMD change at a time).</summary>
public static class RegisterProgramming
{
    /// <summary>RTADDR ← root | TTM; GCMD.SRTP; then GCMD.TE.</summary>
    public static void EnableTranslation(VtdUnit unit, Hpa rootTable, TranslationTableMode mode)
    {
        unit.WriteRegister64(RegisterOffset.RTADDR, rootTable.Value | ((ulong)mode << 10));
        uint status = unit.ReadRegister32(RegisterOffset.GSTS) & (uint)(GlobalCommand.TranslationEnable | GlobalCommand.QueuedInvalidationEnable | GlobalCommand.InterruptRemappingEnable);
        unit.WriteRegister32(RegisterOffset.GCMD, status | (uint)GlobalCommand.SetRootTablePointer);
        unit.WriteRegister32(RegisterOffset.GCMD, status | (uint)GlobalCommand.TranslationEnable);
    }
}
