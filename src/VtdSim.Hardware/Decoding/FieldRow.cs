namespace VtdSim.Hardware.Decoding;

/// <summary>
/// One row of a field table: bits hi:lo (numbered across the structure, within one qword), the specification's name,
/// what the field is, and how to say what a value means. <see cref="Invalid"/> names values the specification reserves
/// (ND=7, PGTT=000) so that they are flagged as reserved bits are.
/// </summary>
internal sealed record FieldRow(int High, int Low, string Name, string Title, Func<ulong, string>? Describe = null, FieldRole Role = FieldRole.Field,
    Func<ulong, bool>? Invalid = null)
{
    public static FieldRow Flag(int bit, string name, string title, string? whenSet = null, string? whenClear = null) =>
        new(bit, bit, name, title, v => v != 0 ? whenSet ?? "yes" : whenClear ?? "no");

    public static FieldRow Reserved(int high, int low, string title = "reserved") => new(high, low, "Rsvd", title, Role: FieldRole.Reserved);

    public static FieldRow Ignored(int high, int low) => new(high, low, "Ign", "ignored by hardware", Role: FieldRole.Ignored);

    /// <summary>A 4 KiB-aligned (or larger) address held in bits hi:lo; the meaning shows the address itself.</summary>
    public static FieldRow Address(int high, int low, string name, string title) =>
        new(high, low, name, title, v => $"0x{v << (low % 64):x}");

    /// <summary>A field whose values are named one by one; values beyond the list are reserved encodings.</summary>
    public static FieldRow Choice(int high, int low, string name, string title, params string[] names) =>
        new(high, low, name, title, v => v < (ulong)names.Length && names[v].Length > 0 ? names[v] : $"reserved encoding ({Binary(v, high - low + 1)})",
            Invalid: v => v >= (ulong)names.Length || names[v].Length == 0);

    public static string Binary(ulong value, int width) => Convert.ToString((long)value, 2).PadLeft(width, '0');
}
