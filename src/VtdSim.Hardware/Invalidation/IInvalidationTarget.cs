namespace VtdSim.Hardware.Invalidation;

/// <summary>
/// What an invalidation acts on: the unit's caches. The queue and the register-based interface decode and validate;
/// the caches decide what each scope removes (spec 6.5, vtd-facts §6.2).
/// </summary>
internal interface IInvalidationTarget
{
    void InvalidateContextGlobal();
    void InvalidateContextDomain(ushort domainId);
    /// <summary>Device-selective: every source id equal to <paramref name="sourceId"/> once the low function bits named by FM are masked.</summary>
    void InvalidateContextDevice(ushort domainId, ushort sourceId, int functionMask);
    void InvalidateIotlbGlobal();
    void InvalidateIotlbDomain(ushort domainId);
    /// <summary>Page-selective within a domain: 2^<paramref name="addressMask"/> pages at <paramref name="address"/> (GPA/IOVA of the SS input).</summary>
    void InvalidateIotlbPages(ushort domainId, ulong address, int addressMask, bool leafOnly);
    void InvalidatePasidIotlb(ushort domainId, uint pasid);
    void InvalidatePasidIotlbPages(ushort domainId, uint pasid, ulong address, int addressMask, bool leafOnly);
    void InvalidatePasidCacheDomain(ushort domainId);
    void InvalidatePasidCachePasid(ushort domainId, uint pasid);
    void InvalidatePasidCacheGlobal();
}
