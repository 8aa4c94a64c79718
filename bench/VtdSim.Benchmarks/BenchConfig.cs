using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using Perfolizer.Horology;

namespace VtdSim.Benchmarks;

/// <summary>
/// A job sized for a 2-core box, about 15 s per benchmark: a fixed 5 warm-up and 10 measured iterations of 250 ms
/// each, instead of the default's adaptive count (minutes per benchmark), but in 3 separate processes: the JIT's
/// profile-guided code layout differs from process to process and moves a ~70 ns walk by a few ns, so the mean and
/// error cover that too. Plus the memory diagnoser.
/// </summary>
public sealed class BenchConfig : ManualConfig
{
    public BenchConfig()
    {
        Add(DefaultConfig.Instance); // loggers, exporters, column providers
        AddJob(Job.Default
            .WithLaunchCount(3)
            .WithWarmupCount(5)
            .WithIterationCount(10)
            .WithIterationTime(TimeInterval.FromMilliseconds(250))
            .WithId("VtdSim"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median, StatisticColumn.P95);
        WithOptions(ConfigOptions.JoinSummary); // one table for all classes, in the order the benchmarks are declared
        WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared, MethodOrderPolicy.Declared));
    }
}
