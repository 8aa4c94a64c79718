using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Support;

/// <summary>
/// A unit whose root table is empty, so every request faults at the root entry (SRT.2 in scalable mode, LRT.2 in
/// legacy mode; both non-qualified, so always recorded). Used to drive the fault-recording registers with as many
/// faults, from as many source ids, as a test needs. Defaults to the sapphire-rapids profile (8 records).
/// </summary>
public sealed class FaultRecordingBench
{
    public const int Bus = 1;

    public VtdUnit Unit { get; }

    public FaultRecordingBench(VtdProfile? profile = null)
    {
        profile ??= BuiltInProfiles.SapphireRapids;
        Unit = new VtdUnit(new PhysicalMemory(1UL << 32), Uncached.Of(profile));
        var mode = profile.Ecap.ScalableModeTranslation ? TranslationTableMode.Scalable : TranslationTableMode.Legacy;
        RegisterProgramming.EnableTranslation(Unit, new Hpa(0x10_0000), mode);
    }

    public FaultReason ExpectedReason =>
        Unit.TableMode == TranslationTableMode.Scalable ? FaultReason.SRT2_RootNotPresent : FaultReason.LRT2_RootNotPresent;

    public static SourceId Source(int device) => new(Bus, device, 0);

    public static DmaRequest Request(int device, ulong address = 0x1000, DmaAccess access = DmaAccess.Read) =>
        new(Source(device), new Iova(address), access);

    /// <summary>Sends the request and returns what became of its fault.</summary>
    public FaultDisposition Raise(in DmaRequest request)
    {
        TranslationResult result = Unit.Translate(request);
        Assert.Equal(ExpectedReason, result.Fault?.Reason);
        return FaultAssert.LastFaultEvent(Unit).Disposition;
    }

    public FaultDisposition Raise(int device, ulong address = 0x1000) => Raise(Request(device, address));

    public uint Fsts => Unit.ReadRegister32(RegisterOffset.FSTS);
    public uint Fectl => Unit.ReadRegister32(RegisterOffset.FECTL);
    public int FaultRecordIndex => (int)((Fsts >> 8) & 0xFF);
    public FaultRecord Record(int index) => FaultRecord.Read(Unit, index);
    public void ClearRecord(int index) => FaultRecord.Clear(Unit, index);
    public IReadOnlyList<FaultInterruptEvent> Interrupts => Unit.Events.OfType<FaultInterruptEvent>().ToList();
}
