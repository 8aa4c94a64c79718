using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;

namespace VtdSim.Hardware.Translation;

/// <summary>
/// The last translation the caches answered in full (context, PASID and IOTLB hits), with the versions of those caches
/// and the root-table state it was made under. A request for the same page with the same attributes, while none of that
/// has changed, gets the same answer — which is what the caches would give — and refreshes the same cache entries and
/// counters the hits would have. It changes no outcome, only the cost of repeating one.
/// </summary>
internal sealed class RepeatTranslationMemo
{
    private bool _valid;
    private DmaRequest _request;
    private RootTableState _root;
    private long _contextVersion, _pasidVersion, _iotlbVersion;
    private int _contextSlot, _pasidSlot, _iotlbSlot;
    private ulong _outputBase, _pageSize;
    private AccessRights _rights;
    private TranslationKind _kind;

    private readonly SetAssociativeCache<ContextCacheKey, ContextCacheEntry> _context;
    private readonly SetAssociativeCache<PasidCacheKey, PasidCacheEntry> _pasid;
    private readonly SetAssociativeCache<IotlbKey, IotlbEntry> _iotlb;

    public RepeatTranslationMemo(RemappingCaches caches)
    {
        _context = caches.Context;
        _pasid = caches.Pasid;
        _iotlb = caches.Iotlb;
    }

    public bool TryRepeat(in DmaRequest request, in RootTableState root, out TranslationResult result)
    {
        if (_valid && ((request.Address.Value ^ _request.Address.Value) & ~(_pageSize - 1)) == 0
            && _iotlbVersion == _iotlb.Version && _contextVersion == _context.Version && _pasidVersion == _pasid.Version
            && SameAttributes(in request, in _request)
            && root.TranslationEnabled == _root.TranslationEnabled && root.Mode == _root.Mode && root.RootTable.Value == _root.RootTable.Value)
        {
            _context.Statistics.Hits++;
            _context.Touch(_contextSlot);
            if (_pasidSlot >= 0)
            {
                _pasid.Statistics.Hits++;
                _pasid.Touch(_pasidSlot);
            }
            _iotlb.Statistics.Hits++;
            _iotlb.Touch(_iotlbSlot);
            result = new TranslationResult(new Hpa(_outputBase | (request.Address.Value & (_pageSize - 1))), _pageSize, _rights, _kind, null);
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>Everything but the address (field by field: cheaper than the record's general equality).</summary>
    private static bool SameAttributes(in DmaRequest a, in DmaRequest b) =>
        a.Source.Value == b.Source.Value && a.Access == b.Access && a.AddressType == b.AddressType
        && a.Privileged == b.Privileged && a.Execute == b.Execute
        && a.Pasid.HasValue == b.Pasid.HasValue && a.Pasid.GetValueOrDefault() == b.Pasid.GetValueOrDefault();

    /// <summary>Remembers a translation that the IOTLB answered after the context/PASID caches did.</summary>
    public void Remember(in DmaRequest request, in RootTableState root, in TranslationResult result, int contextSlot, int pasidSlot)
    {
        _valid = true;
        _request = request;
        _root = root;
        _contextVersion = _context.Version;
        _pasidVersion = _pasid.Version;
        _iotlbVersion = _iotlb.Version;
        _contextSlot = contextSlot;
        _pasidSlot = pasidSlot;
        _iotlbSlot = _iotlb.LastSlot;
        _pageSize = result.PageSize;
        _outputBase = result.Address.Value & ~(result.PageSize - 1);
        _rights = result.Rights;
        _kind = result.Kind;
    }
}
