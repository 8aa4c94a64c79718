namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// The first fault-recording register as software reads it (vtd-facts §1.7): F (127), T (126, 1 = read), PV (123:104),
/// FR (103:96), PP (95), SID (79:64), FI (63:12). PV means nothing when PP=0 (QEMU 7.2 leaves 0xFFFF there), so it is
/// kept only when PP=1.
/// </summary>
public readonly record struct FaultRecord(bool Pending, byte Reason, ushort SourceId, ulong FaultAddress, bool Read, bool PasidPresent, uint? Pasid)
{
    public static FaultRecord Decode(ulong lo, ulong hi)
    {
        bool pp = ((hi >> 31) & 1) != 0;
        return new FaultRecord(
            Pending: (hi >> 63) != 0,
            Reason: (byte)(hi >> 32),
            SourceId: (ushort)hi,
            FaultAddress: lo & ~0xFFFUL,
            Read: ((hi >> 62) & 1) != 0,
            PasidPresent: pp,
            Pasid: pp ? (uint)((hi >> 40) & 0xF_FFFF) : null);
    }

    public override string ToString() =>
        $"F={(Pending ? 1 : 0)} FR=0x{Reason:x2} SID=0x{SourceId:x4} FI=0x{FaultAddress:x} T={(Read ? "read" : "write")} PP={(PasidPresent ? 1 : 0)}" +
        (Pasid is uint p ? $" PV=0x{p:x}" : "");
}

/// <summary>What a scenario observed: the bytes of a RAM region, the fault record, FSTS and FECTL.</summary>
public sealed record Outcome(string Data, FaultRecord Fault, uint Fsts, uint Fectl)
{
    public byte[] Bytes => Convert.FromHexString(Data);
    public bool NoFaultPending => !Fault.Pending && (Fsts & (Reg.FstsPpf | Reg.FstsPfo)) == 0;

    public override string ToString() =>
        $"FRCD[{Fault}] FSTS=0x{Fsts:x} FECTL=0x{Fectl:x8} data={(Data.Length <= 64 ? Data : $"{Data[..32]}…({Data.Length / 2} bytes, hash {Data.GetHashCode():x8})")}";
}

/// <summary>Deterministic test data.</summary>
public static class Pattern
{
    /// <summary><paramref name="length"/> bytes that differ per <paramref name="seed"/> and are never all zero.</summary>
    public static byte[] Bytes(int seed, int length)
    {
        var b = new byte[length];
        uint x = 0x9E37_79B9u * (uint)(seed + 1);
        for (int i = 0; i < length; i++)
        {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b[i] = (byte)(x | 1);
        }
        return b;
    }

    public static string Hex(byte[] bytes) => Convert.ToHexString(bytes);
}
