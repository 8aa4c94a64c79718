using VtdSim.Hardware.Registers;

namespace VtdSim.Hardware.Tests.Support;

/// <summary>
/// One fault-recording register (FRCD) as software reads it through MMIO, decoded by the layout in vtd-facts 1.7:
/// low qword FI 63:12; high qword SID 15:0, T2 28, PRIV 29, EXE 30, PP 31, FR 39:32, PV 59:40, AT 61:60, T1 62, F 63.
/// Decoding is done here, independently of the model's encoder, so tests check the register layout itself.
/// </summary>
public readonly record struct FaultRecord(ulong Low, ulong High)
{
    public ulong FaultInfo => Low & ~0xFFFUL;
    public ushort SourceId => (ushort)(High & 0xFFFF);
    public bool T2 => Bit(28);
    public bool Privileged => Bit(29);
    public bool Execute => Bit(30);
    public bool PasidPresent => Bit(31);
    public byte Reason => (byte)((High >> 32) & 0xFF);
    public uint PasidValue => (uint)((High >> 40) & 0xF_FFFF);
    public int AddressType => (int)((High >> 60) & 3);
    public bool T1 => Bit(62);
    public bool Fault => Bit(63);

    private bool Bit(int n) => ((High >> n) & 1) != 0;

    /// <summary>Reads FRCD[<paramref name="index"/>] at CAP.FRO + 16*index, locating it through the CAP register as a driver does.</summary>
    public static FaultRecord Read(VtdUnit unit, int index = 0)
    {
        int offset = RecordOffset(unit, index);
        return new FaultRecord(unit.ReadRegister64(offset), unit.ReadRegister64(offset + 8));
    }

    /// <summary>Byte offset of FRCD[<paramref name="index"/>] in the register page.</summary>
    public static int RecordOffset(VtdUnit unit, int index) =>
        new Capability(unit.ReadRegister64(RegisterOffset.CAP)).FaultRecordingOffset + 16 * index;

    /// <summary>Clears F (bit 127 of the record, bit 31 of its last dword) the way a driver does: write 1 to it.</summary>
    public static void Clear(VtdUnit unit, int index) => unit.WriteRegister32(RecordOffset(unit, index) + 12, 1u << 31);

    public override string ToString() =>
        $"FRCD F={(Fault ? 1 : 0)} FR=0x{Reason:x2} SID=0x{SourceId:x4} FI=0x{FaultInfo:x} PP={(PasidPresent ? 1 : 0)} PV=0x{PasidValue:x} T1={(T1 ? 1 : 0)} T2={(T2 ? 1 : 0)} AT={AddressType}";
}
