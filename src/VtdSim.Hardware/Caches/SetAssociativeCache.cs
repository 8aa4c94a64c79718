using System.Runtime.CompilerServices;

namespace VtdSim.Hardware.Caches;

/// <summary>
/// A set-associative cache with deterministic replacement. Lookups scan the ways of one set and do not allocate; a
/// large fully associative cache (one set, many ways, like QEMU's hash-table IOTLB) finds its slot through an index
/// instead, and reuses free slots in a fixed order (lowest first, then the most recently freed). Invalidation visits every valid entry with a predicate (its cost
/// grows with what is cached, as a hardware walk of the tags would).
/// </summary>
internal sealed class SetAssociativeCache<TKey, TValue> where TKey : struct, IEquatable<TKey>
{
    private readonly TKey[] _keys;
    private readonly TValue[] _values;
    private readonly ulong[] _stamps; // 0 = invalid; otherwise the last-use tick (LRU)
    private readonly int _setMask, _ways;
    private readonly CacheReplacement _replacement;
    private ulong _tick;
    private readonly CacheStatistics _statistics = new();
    private CacheChangeCounter? _changes;
    private DeferredCacheUse? _deferred;
    private const int IndexedWays = 16; // above this many ways in a single set, slots are found through _index
    private readonly Dictionary<TKey, int>? _index;
    private readonly Stack<int>? _free;  // free slots of an indexed cache (all of them, lowest on top, after a clear)

    public SetAssociativeCache(CacheGeometry geometry)
    {
        _ways = geometry.Ways;
        _setMask = geometry.Sets - 1;
        _replacement = geometry.Replacement;
        int capacity = geometry.Capacity;
        _keys = new TKey[capacity];
        _values = new TValue[capacity];
        _stamps = new ulong[capacity];
        if (geometry.Sets == 1 && _ways > IndexedWays)
        {
            _index = new Dictionary<TKey, int>(capacity);
            _free = new Stack<int>(capacity);
            RefillFreeSlots();
        }
    }

    private void RefillFreeSlots()
    {
        _free!.Clear();
        for (int i = _stamps.Length - 1; i >= 0; i--) _free.Push(i);
    }

    /// <summary>The slot holding <paramref name="key"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int FindSlot(in TKey key, int hash)
    {
        if (_index is not null) return _index.TryGetValue(key, out int slot) ? slot : -1;
        int start = (hash & _setMask) * _ways;
        for (int i = start; i < start + _ways; i++)
        {
            if (_stamps[i] != 0 && _keys[i].Equals(key)) return i;
        }
        return -1;
    }

    /// <summary>Where a new key goes: the set's first free way, else its least recently used one (indexed: any free slot, else the LRU slot of all).</summary>
    private int ChooseVictim(int hash)
    {
        if (_free is { Count: > 0 }) return _free.Pop();
        int start = _index is null ? (hash & _setMask) * _ways : 0;
        int end = _index is null ? start + _ways : _stamps.Length;
        int victim = start;
        for (int i = start; i < end; i++)
        {
            if (_stamps[i] == 0) return i;
            if (_stamps[i] < _stamps[victim]) victim = i;
        }
        return victim;
    }

    /// <summary>Marks a valid slot free (its key leaves the index).</summary>
    private void Vacate(int slot)
    {
        _stamps[slot] = 0;
        if (_index is null) return;
        _index.Remove(_keys[slot]);
        _free!.Push(slot);
    }

    public CacheStatistics Statistics
    {
        get
        {
            SettleDeferred();
            return _statistics;
        }
    }

    /// <summary>Changes with every fill and every invalidation, so a memo of what the cache answered can tell it is current.</summary>
    public long Version { get; private set; }

    /// <summary>Also counts this cache's fills and invalidations in a counter shared with other caches.</summary>
    public void ReportChangesTo(CacheChangeCounter changes) => _changes = changes;

    /// <summary>Hits that a memo answers for this cache; they are settled before the cache is next read or changed.</summary>
    public void AcceptDeferredUses(DeferredCacheUse deferred) => _deferred = deferred;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SettleDeferred()
    {
        if (_deferred is { Pending: > 0 } deferred) deferred.Settle();
    }

    private void Changed()
    {
        Version++;
        if (_changes is not null) _changes.Value++;
    }

    /// <summary>The slot of the last hit or fill, so a memo can refresh that entry's recency later (see <see cref="Touch"/>).</summary>
    public int LastSlot { get; private set; } = -1;

    /// <summary>Marks a slot as just used, as a hit on it would (only meaningful while <see cref="Version"/> is unchanged).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Touch(int slot)
    {
        SettleDeferred();
        if (slot >= 0) _stamps[slot] = ++_tick;
    }
    public int Capacity => _keys.Length;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGet(in TKey key, int hash, out TValue value)
    {
        bool hit = Probe(in key, hash, out value);
        if (hit) _statistics.Hits++;
        else _statistics.Misses++;
        return hit;
    }

    /// <summary>A lookup that counts nothing (for probing several tags, e.g. every page size, as one access).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Probe(in TKey key, int hash, out TValue value)
    {
        SettleDeferred();
        int i = FindSlot(in key, hash);
        if (i >= 0)
        {
            _stamps[i] = ++_tick;
            value = _values[i];
            LastSlot = i;
            return true;
        }
        value = default!;
        return false;
    }

    /// <summary>Inserts or replaces the entry for <paramref name="key"/>.</summary>
    public void Add(in TKey key, int hash, in TValue value)
    {
        if (_ways == 0) return;
        SettleDeferred();
        int victim = FindSlot(in key, hash);
        if (victim < 0)
        {
            victim = ChooseVictim(hash);
            if (_stamps[victim] != 0)
            {
                if (_replacement == CacheReplacement.FlushWhenFull)
                {
                    int flushed = Clear(); // counted as evictions, not invalidations
                    _statistics.Evictions += flushed;
                    _statistics.Invalidated -= flushed;
                    if (_free is not null) victim = _free.Pop();
                }
                else
                {
                    Vacate(victim);
                    if (_free is not null) _free.Pop(); // the slot just vacated: it is reused at once
                    _statistics.Evictions++;
                    _statistics.Occupancy--;
                }
            }
            _index?.Add(key, victim);
        }
        if (_stamps[victim] == 0) _statistics.Occupancy++;
        _keys[victim] = key;
        _values[victim] = value;
        _stamps[victim] = ++_tick;
        LastSlot = victim;
        Changed();
        _statistics.Fills++;
    }

    /// <summary>Removes the entry for <paramref name="key"/> if there is one (a lookup of one set, not a walk of every tag).</summary>
    public bool Remove(in TKey key, int hash)
    {
        SettleDeferred();
        int i = FindSlot(in key, hash);
        if (i < 0) return false;
        Vacate(i);
        _statistics.Invalidated++;
        _statistics.Occupancy--;
        Changed();
        return true;
    }

    /// <summary>How many sets the cache has (a range invalidation probes tags one by one only while that is cheaper than a walk).</summary>
    public int Sets => _setMask + 1;

    /// <summary>How many valid entries the predicate selects.</summary>
    public int CountWhere<TState>(TState state, Func<TState, TKey, TValue, bool> predicate)
    {
        SettleDeferred();
        int count = 0;
        for (int i = 0; i < _keys.Length; i++)
            if (_stamps[i] != 0 && predicate(state, _keys[i], _values[i])) count++;
        return count;
    }

    /// <summary>Removes every entry the predicate selects; returns how many.</summary>
    public int RemoveWhere<TState>(TState state, Func<TState, TKey, TValue, bool> predicate)
    {
        SettleDeferred();
        int removed = 0;
        for (int i = 0; i < _keys.Length; i++)
        {
            if (_stamps[i] != 0 && predicate(state, _keys[i], _values[i]))
            {
                Vacate(i);
                removed++;
            }
        }
        _statistics.Invalidated += removed;
        _statistics.Occupancy -= removed;
        Changed();
        return removed;
    }

    public int Clear()
    {
        SettleDeferred();
        int removed = 0;
        for (int i = 0; i < _stamps.Length; i++)
        {
            if (_stamps[i] != 0) removed++;
            _stamps[i] = 0;
        }
        if (_index is not null)
        {
            _index.Clear();
            RefillFreeSlots();
        }
        _statistics.Invalidated += removed;
        _statistics.Occupancy = 0;
        Changed();
        return removed;
    }

    /// <summary>The valid entries, for inspection tools and tests.</summary>
    public IEnumerable<(TKey Key, TValue Value)> Entries()
    {
        SettleDeferred();
        for (int i = 0; i < _keys.Length; i++)
            if (_stamps[i] != 0) yield return (_keys[i], _values[i]);
    }
}
