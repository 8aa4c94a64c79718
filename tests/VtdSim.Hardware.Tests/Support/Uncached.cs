using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Hardware.Tests.Support;

/// <summary>
/// The walk, fault and register tests change tables between translations without invalidating, to look at one walk
/// at a time; they run on units without translation caches. Caching is tested on its own (Caches/).
/// </summary>
public static class Uncached
{
    public static VtdProfile Of(VtdProfile profile) => profile with { Caches = CacheSizes.Uncached };
}
