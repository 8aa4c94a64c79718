namespace VtdSim.Hardware.Decoding;

/// <summary>What a field of a register or entry is to the hardware.</summary>
public enum FieldRole
{
    /// <summary>A field the specification defines.</summary>
    Field,
    /// <summary>Reserved: must be 0; hardware that reads a 1 here faults (entries) or does not define it (registers).</summary>
    Reserved,
    /// <summary>Ignored by hardware: software may keep its own bits here.</summary>
    Ignored,
}

/// <summary>
/// One field of a decoded value: its bits (numbered across the whole structure, as the specification numbers them:
/// a PASID entry's DID is 79:64), its name as the specification (rev 4.x) names it, with the older name the kernel or
/// chipsec may still print in parentheses, its value and what that value means.
/// </summary>
public sealed record DecodedField(int High, int Low, string Name, ulong Value, string Meaning, FieldRole Role, bool Flagged)
{
    /// <summary>The bit range as the specification writes it: "87:72", or "7" for one bit.</summary>
    public string Bits => High == Low ? $"{High}" : $"{High}:{Low}";

    /// <summary>The value as the table prints it: one bit as 0/1, a wider field in hex.</summary>
    public string ValueText => High == Low ? (Value == 0 ? "0" : "1") : $"0x{Value:x}";
}

/// <summary>A decoded register or entry: what it is, the values it was decoded from (low qword first), and every field.</summary>
public sealed record DecodedStructure(string Kind, string Title, IReadOnlyList<ulong> Values, IReadOnlyList<DecodedField> Fields, IReadOnlyList<string> Notes)
{
    /// <summary>The fields whose value is wrong for the hardware: reserved bits that are set, reserved encodings.</summary>
    public IEnumerable<DecodedField> Problems => Fields.Where(f => f.Flagged);
}
