using VtdSim.Differential.Tests.Infrastructure;
using static VtdSim.Differential.Tests.Infrastructure.Layout;

namespace VtdSim.Differential.Tests;

/// <summary>
/// QEMU 7.2's IOTLB holds at most 1024 translations and is emptied by the insert that finds it full (qemu-facts §3.1);
/// the QEMU profiles model it so. After the stale pass the IOTLB holds A and B; 1022 more pages fill it exactly, and A
/// is still stale; the 1023rd empties it, and A is walked afresh. The boundary is the same on both sides.
/// </summary>
public class IotlbCapacityTests
{
    private const ulong FillIova = 0x2000_0000;

    [NeedsVtdSimIotlbTheory]
    [InlineData(1022, false)]
    [InlineData(1023, true)]
    public void The_1024_entry_IOTLB_is_emptied_by_the_insert_that_finds_it_full(int fills, bool fresh)
    {
        var (before, stale, after) = Both.Run(TargetConfig.Legacy, t => CacheProbe.IotlbScenario(t, scalable: false,
            prepare: rig =>
            {
                for (int i = 0; i < fills; i++) rig.Sl.Map(FillIova + (ulong)i * 4096, Src, read: true, write: false);
            },
            invalidate: rig =>
            {
                for (int i = 0; i < fills; i++) rig.Target.Dma(EduDirection.FromRam, FillIova + (ulong)i * 4096, 8);
            })).Agree();
        Assert.Equal(CacheProbe.Old, before.Bytes);
        Assert.Equal(CacheProbe.Old, stale.Bytes);
        Assert.Equal(fresh ? CacheProbe.New : CacheProbe.Old, after.Bytes);
    }
}
