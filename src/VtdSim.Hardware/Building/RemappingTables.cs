using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Building;

/// <summary>
/// Builds a root table with its context tables and, in scalable mode, PASID directories and tables: one call per
/// device (and PASID). Structures are allocated on first use from a <see cref="FrameAllocator"/>.
/// </summary>
public sealed class RemappingTables
{
    private readonly FrameAllocator _frames;
    private readonly bool _pasidCapable;
    private readonly Dictionary<(int Bus, bool Upper), Hpa> _contextTables = new();
    private readonly Dictionary<ushort, Hpa> _pasidDirectories = new();
    private readonly Dictionary<(ushort Sid, uint DirIndex), Hpa> _pasidTables = new();

    /// <param name="pasidCapable">Whether default context entries set PASIDE (only for a unit with ECAP.PASID).</param>
    public RemappingTables(FrameAllocator frames, bool scalable, bool pasidCapable = true)
    {
        _pasidCapable = pasidCapable;
        _frames = frames;
        Scalable = scalable;
        Root = frames.Allocate();
    }

    public Hpa Root { get; }
    public bool Scalable { get; }

    /// <summary>Legacy mode: installs the context entry of <paramref name="source"/>.</summary>
    public Hpa SetLegacyContext(SourceId source, LegacyContextEntry entry)
    {
        if (Scalable) throw new InvalidOperationException("these tables are scalable-mode; use SetPasidEntry");
        Hpa address = ContextTable(source) + (ulong)source.DevFn * LegacyContextEntry.Size;
        _frames.Memory.Write64(address, entry.Low);
        _frames.Memory.Write64(address + 8, entry.High);
        return address;
    }

    /// <summary>Scalable mode: installs (or replaces) the context entry of <paramref name="source"/>, keeping its PASID directory.</summary>
    public Hpa SetScalableContext(SourceId source, Func<Hpa, ScalableContextEntry> makeEntry)
    {
        if (!Scalable) throw new InvalidOperationException("these tables are legacy-mode; use SetLegacyContext");
        if (!_pasidDirectories.TryGetValue(source.Value, out Hpa directory))
            _pasidDirectories[source.Value] = directory = _frames.Allocate();
        ScalableContextEntry entry = makeEntry(directory);
        Hpa address = ContextTable(source) + (ulong)(source.DevFn & 0x7F) * ScalableContextEntry.Size;
        _frames.Memory.Write64(address, entry.Q0);
        _frames.Memory.Write64(address + 8, entry.Q1);
        _frames.Memory.Write64(address + 16, entry.Q2);
        _frames.Memory.Write64(address + 24, entry.Q3);
        return address;
    }

    /// <summary>Scalable mode: installs the PASID entry, creating a default context entry (PDTS=7, PASIDE if PASID-capable) if needed.</summary>
    public Hpa SetPasidEntry(SourceId source, uint pasid, PasidEntry entry)
    {
        if (!_pasidDirectories.ContainsKey(source.Value))
            SetScalableContext(source, dir => ScalableContextEntry.Create(dir).WithPasidEnable(_pasidCapable));
        Hpa directory = _pasidDirectories[source.Value];
        uint dirIndex = pasid >> 6;
        if (!_pasidTables.TryGetValue((source.Value, dirIndex), out Hpa table))
        {
            _pasidTables[(source.Value, dirIndex)] = table = _frames.Allocate();
            _frames.Memory.Write64(directory + dirIndex * 8UL, PasidDirectoryEntry.Create(table).Raw);
        }
        Hpa address = table + (pasid & 0x3F) * (ulong)PasidEntry.Size;
        ulong[] q = [entry.Q0, entry.Q1, entry.Q2, entry.Q3, entry.Q4, entry.Q5, entry.Q6, entry.Q7];
        for (int i = 0; i < 8; i++) _frames.Memory.Write64(address + (ulong)(8 * i), q[i]);
        return address;
    }

    public Hpa PasidDirectoryEntryAddress(SourceId source, uint pasid) => _pasidDirectories[source.Value] + (pasid >> 6) * 8UL;

    private Hpa ContextTable(SourceId source)
    {
        bool upper = Scalable && source.DevFn >= 0x80;
        if (_contextTables.TryGetValue((source.Bus, upper), out Hpa table)) return table;
        table = _frames.Allocate();
        _contextTables[(source.Bus, upper)] = table;
        Hpa rootEntry = Root + source.Bus * 16UL;
        var current = new RootEntry(_frames.Memory.Read64(rootEntry), _frames.Memory.Read64(rootEntry + 8));
        RootEntry updated = Scalable ? (upper ? current.WithUpper(table) : current.WithLower(table)) : RootEntry.Legacy(table);
        _frames.Memory.Write64(rootEntry, updated.Low);
        _frames.Memory.Write64(rootEntry + 8, updated.High);
        return table;
    }
}
