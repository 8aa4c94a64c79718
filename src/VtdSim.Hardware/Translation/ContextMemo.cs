
namespace VtdSim.Hardware.Translation;

/// <summary>The request attributes a context resolution depends on.</summary>
internal readonly record struct ContextMemoKey(ushort SourceId, uint Pasid, TranslationTableMode Mode, AddressType AddressType, bool Privileged, bool Execute);

/// <summary>
/// A small direct-mapped memo of context resolutions that the context and PASID caches answered, each tagged with the
/// caches' generation: any fill or invalidation of those caches makes every memo entry stale at once. It holds only
/// what the caches themselves would give, so it changes no outcome, only how fast it is computed.
/// </summary>
internal struct ContextMemo
{
    private const int Slots = 64;
    private readonly ContextMemoKey[] _keys = new ContextMemoKey[Slots];
    private readonly ResolvedContext[] _contexts = new ResolvedContext[Slots];
    private readonly long[] _generations = new long[Slots];
    private readonly (int Context, int Pasid)[] _cacheSlots = new (int, int)[Slots];

    public ContextMemo()
    {
        Array.Fill(_generations, -1);
    }

    /// <summary>A hit also gives the cache slots the resolution came from, so the caller can refresh their recency.</summary>
    public readonly bool TryGet(in ContextMemoKey key, long generation, out ResolvedContext context, out (int Context, int Pasid) cacheSlots)
    {
        int slot = Slot(in key);
        if (_generations[slot] == generation && _keys[slot].Equals(key))
        {
            context = _contexts[slot];
            cacheSlots = _cacheSlots[slot];
            return true;
        }
        context = default;
        cacheSlots = (-1, -1);
        return false;
    }

    public readonly void Set(in ContextMemoKey key, long generation, in ResolvedContext context, (int Context, int Pasid) cacheSlots)
    {
        int slot = Slot(in key);
        _keys[slot] = key;
        _contexts[slot] = context;
        _generations[slot] = generation;
        _cacheSlots[slot] = cacheSlots;
    }

    private static int Slot(in ContextMemoKey key) => (int)((key.SourceId ^ (key.Pasid * 0x9E37_79B1u)) % Slots);
}
