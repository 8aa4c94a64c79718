namespace VtdSim.Hardware.Caches;

/// <summary>One translation cache of a unit, for tools: its name, its shape, and its live counters.</summary>
public sealed record TranslationCacheReport(string Name, CacheGeometry Geometry, CacheStatistics Statistics);
