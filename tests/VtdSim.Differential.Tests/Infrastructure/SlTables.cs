using System.Buffers.Binary;

namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// Second-stage (legacy second-level) tables written as raw entries through <see cref="IVtdTarget.WriteMem"/>. Missing
/// intermediate tables are created with R=W=1 non-leaf entries; leaves get exactly the bits the scenario asks for.
/// </summary>
public sealed class SlTables(IVtdTarget target, int levels = 3, ulong root = Layout.SlRoot)
{
    private readonly Dictionary<(int Level, ulong Tag), ulong> _tables = new() { [(levels, 0)] = root };
    private readonly Dictionary<ulong, ulong> _written = new(); // entry address → last value written
    private ulong _nextFrame = Layout.TablePool;

    public ulong Root { get; } = root;
    public int Levels { get; } = levels;

    public static int Index(ulong iova, int level) => (int)((iova >> (12 + 9 * (level - 1))) & 0x1FF);

    /// <summary>The address of the entry that maps <paramref name="iova"/> at <paramref name="level"/>, creating the tables above it.</summary>
    public ulong EntryAddress(ulong iova, int level)
    {
        ulong table = Root;
        for (int l = Levels; l > level; l--)
        {
            var key = (l - 1, Tag(iova, l - 1));
            if (!_tables.TryGetValue(key, out ulong child))
            {
                child = _nextFrame;
                _nextFrame += 0x1000;
                target.WriteMem(child, new byte[4096]);
                _tables[key] = child;
                WriteEntry(table + (ulong)Index(iova, l) * 8, Entry.Sl(child));
            }
            table = child;
        }
        return table + (ulong)Index(iova, level) * 8;
    }

    /// <summary>Maps the page of <paramref name="iova"/> at <paramref name="level"/> (1: 4 KiB, 2: 2 MiB, 3: 1 GiB) to <paramref name="hpa"/>.</summary>
    public ulong Map(ulong iova, ulong hpa, int level = 1, bool read = true, bool write = true, ulong extraBits = 0)
    {
        ulong entry = EntryAddress(iova, level);
        WriteEntry(entry, Entry.Sl(hpa, read, write, pageSize: level > 1) | extraBits);
        return entry;
    }

    /// <summary>Writes a raw entry: for reserved-bit and not-present cases, or to change a mapping behind the IOTLB's back.</summary>
    public void WriteEntry(ulong address, ulong raw)
    {
        _written[address] = raw;
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, raw);
        target.WriteMem(address, b);
    }

    /// <summary>Sets <paramref name="bits"/> in the entry at <paramref name="address"/> (as last written; 0 if never written).</summary>
    public void SetBits(ulong address, ulong bits) => WriteEntry(address, _written.GetValueOrDefault(address) | bits);

    /// <summary>Clears <paramref name="bits"/> in the entry at <paramref name="address"/>.</summary>
    public void ClearBits(ulong address, ulong bits) => WriteEntry(address, _written.GetValueOrDefault(address) & ~bits);

    private static ulong Tag(ulong iova, int level) => iova >> (12 + 9 * level);
}
