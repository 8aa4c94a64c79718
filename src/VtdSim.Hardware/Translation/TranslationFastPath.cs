using System.Runtime.CompilerServices;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;

namespace VtdSim.Hardware.Translation;

/// <summary>
/// A direct-mapped memo of translations that the context cache, the PASID cache (when used) and the IOTLB answered in
/// full, keyed by the request's attributes and 4 KiB page. While none of those caches has changed (nor the root-table
/// state), the same request gets the same answer the caches would give, without looking them up again. It changes no
/// outcome, only the cost of one: the hit counters and LRU recency of the entries it stands for are updated as if they
/// had been hit — deferred, and settled (in order) before anything next reads or changes those caches.
/// The checks an IOTLB hit makes on its request (D26: privilege, access, input address, interrupt range) hold for a memo
/// hit without being made again: the key holds every request attribute (privilege, access, execute, PASID), the caches
/// and the context they were checked under are unchanged, and the input and output are the same 4 KiB pages, which lie
/// wholly inside or wholly outside the interrupt range (whole 4 KiB pages) and have the same upper input bits.
/// </summary>
internal sealed class TranslationFastPath : DeferredCacheUse
{
    private const int Slots = 256;       // power of two
    private const int LogCapacity = 1024; // hits kept before settling on its own

    private struct Entry
    {
        public ulong Page;          // input page number (address >> 12)
        public ulong Attributes;    // see Attributes()
        public long Generation;     // the caches' change count it was made under; -1: empty
        public ulong OutputPage;    // output address of the 4 KiB page
        public ulong PageSize;      // the IOTLB entry's page size, as the walk reported it
        public AccessRights Rights;
        public TranslationKind Kind;
        public int ContextSlot, PasidSlot, IotlbSlot;
        public int LastLog;         // position of this entry's latest hit in the log
    }

    private readonly Entry[] _entries = new Entry[Slots];
    private readonly int[] _log = new int[LogCapacity]; // entry index of each deferred hit, in order
    private readonly CacheChangeCounter _changes;
    private readonly SetAssociativeCache<ContextCacheKey, ContextCacheEntry> _context;
    private readonly SetAssociativeCache<PasidCacheKey, PasidCacheEntry> _pasid;
    private readonly SetAssociativeCache<IotlbKey, IotlbEntry> _iotlb;

    public TranslationFastPath(RemappingCaches caches)
    {
        _changes = caches.Changes;
        _context = caches.Context;
        _pasid = caches.Pasid;
        _iotlb = caches.Iotlb;
        for (int i = 0; i < Slots; i++) _entries[i].Generation = -1;
        _context.AcceptDeferredUses(this);
        _pasid.AcceptDeferredUses(this);
        _iotlb.AcceptDeferredUses(this);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTranslate(in DmaRequest request, out TranslationResult result)
    {
        ulong address = request.Address.Value;
        ulong page = address >> 12;
        ulong attributes = Attributes(in request);
        int index = Index(page, attributes);
        ref Entry entry = ref _entries[index];
        if (entry.Page == page && entry.Attributes == attributes && entry.Generation == _changes.Value)
        {
            int n = Pending;
            if ((uint)n >= (uint)_log.Length)
            {
                Settle();
                n = 0;
            }
            _log[n] = index;
            entry.LastLog = n;
            Pending = n + 1;
            result = new TranslationResult(new Hpa(entry.OutputPage | (address & 0xFFF)), entry.PageSize, entry.Rights, entry.Kind, null);
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>Remembers a translation the caches answered in full, with the context/PASID/IOTLB slots that answered it.</summary>
    public void Remember(in DmaRequest request, in TranslationResult result, int contextSlot, int pasidSlot, int iotlbSlot)
    {
        Settle(); // the log names entries by index: none may change while hits on it are pending
        ulong page = request.Address.Value >> 12;
        ulong attributes = Attributes(in request);
        ref Entry entry = ref _entries[Index(page, attributes)];
        entry.Page = page;
        entry.Attributes = attributes;
        entry.Generation = _changes.Value;
        entry.OutputPage = result.Address.Value & ~0xFFFUL;
        entry.PageSize = result.PageSize;
        entry.Rights = result.Rights;
        entry.Kind = result.Kind;
        entry.ContextSlot = contextSlot;
        entry.PasidSlot = pasidSlot;
        entry.IotlbSlot = iotlbSlot;
    }

    /// <summary>
    /// Applies the pending hits: every one counts as a hit of each cache it stands for; recency is refreshed at each
    /// entry's latest hit only, in log order, which leaves every cache's LRU order as the hits one by one would have.
    /// </summary>
    public override void Settle()
    {
        int n = Pending;
        if (n == 0) return;
        Pending = 0; // first: the touches below must not settle again
        long pasidHits = 0;
        for (int p = 0; p < n; p++)
        {
            ref Entry entry = ref _entries[_log[p]];
            if (entry.PasidSlot >= 0) pasidHits++;
            if (entry.LastLog != p) continue;
            _context.Touch(entry.ContextSlot);
            if (entry.PasidSlot >= 0) _pasid.Touch(entry.PasidSlot);
            _iotlb.Touch(entry.IotlbSlot);
        }
        _context.Statistics.Hits += n;
        _pasid.Statistics.Hits += pasidHits;
        _iotlb.Statistics.Hits += n;
    }

    /// <summary>Every request attribute but the address, packed (the request was validated: the PASID fits in 20 bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Attributes(in DmaRequest request) =>
        request.Source.Value
        | (ulong)request.Access << 16
        | (ulong)request.AddressType << 20
        | (request.Privileged ? 1UL << 24 : 0)
        | (request.Execute ? 1UL << 25 : 0)
        | (request.Pasid is uint pasid ? 1UL << 26 | (ulong)pasid << 32 : 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Index(ulong page, ulong attributes) =>
        (int)((page ^ (attributes * 0x9E37_79B9_7F4A_7C15UL >> 40)) & (Slots - 1));
}
