
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

    public ContextMemo()
    {
        Array.Fill(_generations, -1);
    }

    public readonly bool TryGet(in ContextMemoKey key, long generation, out ResolvedContext context)
    {
        int slot = Slot(in key);
        if (_generations[slot] == generation && _keys[slot].Equals(key))
        {
            context = _contexts[slot];
            return true;
        }
        context = default;
        return false;
    }

    public readonly void Set(in ContextMemoKey key, long generation, in ResolvedContext context)
    {
        int slot = Slot(in key);
        _keys[slot] = key;
        _contexts[slot] = context;
        _generations[slot] = generation;
    }

    private static int Slot(in ContextMemoKey key) => (int)((key.SourceId ^ (key.Pasid * 0x9E37_79B1u)) % Slots);
}
