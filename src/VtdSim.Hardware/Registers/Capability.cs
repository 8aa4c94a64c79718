using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Registers;

/// <summary>The Capability register (CAP, offset 0x08), decoded field by field (spec 11.4.2).</summary>
public readonly record struct Capability(ulong Raw)
{
    /// <summary>ND: number of domain ids = 2^(4+2*ND).</summary>
    public int NumberOfDomains => (int)Bits.Get(Raw, 2, 0);
    public bool AdvancedFaultLogging => Bits.Test(Raw, 3);
    public bool RequiredWriteBufferFlush => Bits.Test(Raw, 4);
    public bool ProtectedLowMemoryRegion => Bits.Test(Raw, 5);
    public bool ProtectedHighMemoryRegion => Bits.Test(Raw, 6);
    public bool CachingMode => Bits.Test(Raw, 7);
    /// <summary>SAGAW bit mask: bit 1 = 39-bit/3-level, bit 2 = 48-bit/4-level, bit 3 = 57-bit/5-level.</summary>
    public int SupportedAdjustedGuestAddressWidths => (int)Bits.Get(Raw, 12, 8);
    /// <summary>MGAW: maximum guest address width in bits (the field holds width minus one).</summary>
    public int MaximumGuestAddressWidth => (int)Bits.Get(Raw, 21, 16) + 1;
    public bool ZeroLengthRead => Bits.Test(Raw, 22);
    /// <summary>FRO: fault-recording register offset in bytes (the field holds offset/16).</summary>
    public int FaultRecordingOffset => (int)Bits.Get(Raw, 33, 24) * 16;
    public bool SecondStage2MiBPages => Bits.Test(Raw, 34);
    public bool SecondStage1GiBPages => Bits.Test(Raw, 35);
    public bool PageSelectiveInvalidation => Bits.Test(Raw, 39);
    /// <summary>NFR: number of fault-recording registers (the field holds count minus one).</summary>
    public int NumberOfFaultRecords => (int)Bits.Get(Raw, 47, 40) + 1;
    public int MaximumAddressMaskValue => (int)Bits.Get(Raw, 53, 48);
    public bool WriteDraining => Bits.Test(Raw, 54);
    public bool ReadDraining => Bits.Test(Raw, 55);
    public bool FirstStage1GiBPages => Bits.Test(Raw, 56);
    public bool PostedInterrupts => Bits.Test(Raw, 59);
    public bool FirstStage5LevelPaging => Bits.Test(Raw, 60);
    public bool EnhancedCommand => Bits.Test(Raw, 61);
    public bool EnhancedSetInterruptRootTablePointer => Bits.Test(Raw, 62);
    public bool EnhancedSetRootTablePointer => Bits.Test(Raw, 63);

    /// <summary>Whether SAGAW allows a table of the given AW encoding (0 = 2-level .. 3 = 5-level).</summary>
    public bool SupportsAddressWidth(int aw) => aw is >= 0 and <= 4 && ((SupportedAdjustedGuestAddressWidths >> aw) & 1) != 0;

    public Capability WithNumberOfDomains(int nd) => new(Bits.Set(Raw, 2, 0, (ulong)nd, "ND"));
    public Capability WithRequiredWriteBufferFlush(bool on) => new(Bits.Set(Raw, 4, on));
    public Capability WithCachingMode(bool on) => new(Bits.Set(Raw, 7, on));
    public Capability WithSupportedAdjustedGuestAddressWidths(int mask) => new(Bits.Set(Raw, 12, 8, (ulong)mask, "SAGAW"));
    public Capability WithMaximumGuestAddressWidth(int bits) => new(Bits.Set(Raw, 21, 16, (ulong)(bits - 1), "MGAW"));
    public Capability WithZeroLengthRead(bool on) => new(Bits.Set(Raw, 22, on));
    public Capability WithFaultRecordingOffset(int bytes) => new(Bits.Set(Raw, 33, 24, Bits.SixteenByteUnits(bytes, "FRO"), "FRO"));
    public Capability WithSecondStageLargePages(bool twoMiB, bool oneGiB) => new(Bits.Set(Bits.Set(Raw, 34, twoMiB), 35, oneGiB));
    public Capability WithPageSelectiveInvalidation(bool on) => new(Bits.Set(Raw, 39, on));
    public Capability WithNumberOfFaultRecords(int count) => new(Bits.Set(Raw, 47, 40, (ulong)(count - 1), "NFR"));
    public Capability WithMaximumAddressMaskValue(int mamv) => new(Bits.Set(Raw, 53, 48, (ulong)mamv, "MAMV"));
    public Capability WithDraining(bool on) => new(Bits.Set(Bits.Set(Raw, 54, on), 55, on));
    public Capability WithFirstStage1GiBPages(bool on) => new(Bits.Set(Raw, 56, on));
    public Capability WithFirstStage5LevelPaging(bool on) => new(Bits.Set(Raw, 60, on));
    public Capability WithEnhancedSetRootTablePointer(bool on) => new(Bits.Set(Raw, 63, on));

    public override string ToString() => $"0x{Raw:x16}";
}
