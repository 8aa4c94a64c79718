using System.Diagnostics;
using BenchmarkDotNet.Running;
using VtdSim.Benchmarks;

// Benchmarks: dotnet run -c Release --project bench/VtdSim.Benchmarks -- --filter '*'
// Profiling:  dotnet run -c Release --project bench/VtdSim.Benchmarks -- --spin <walk|translate|hot|hot-pages|kernel|steady|dma|nesting> <legacy|fs|nested|domain-4k|ioas-4k|domain-map|domain-unmap|ioas-map-unmap|host|l1|l2|levels|forward|shadow|shadow-neighbour|shadow-4096> [seconds]
//             runs one operation in a loop (no BenchmarkDotNet) and prints ns/op, for `perf record` with
//             DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 (see docs/performance.md).
if (args.Length >= 3 && args[0] == "--spin")
    return Spin(args[1], args[2], args.Length > 3 ? double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 10);
BenchmarkSwitcher.FromAssembly(typeof(BenchConfig).Assembly).Run(args, new BenchConfig());
return 0;

static int Spin(string what, string shape, double seconds)
{
    var b = new WalkBenchmarks();
    b.Setup();
    var c = new CacheBenchmarks();
    if (what.StartsWith("hot", StringComparison.Ordinal)) c.Setup();
    var k = new KernelBenchmarks();
    if (what == "kernel") k.Setup();
    var steady = new KernelSteadyStateBenchmarks();
    if (what == "steady") steady.Setup();
    var levels = new ThreeLevelBenchmarks();
    if (what == "dma") levels.Setup();
    var nesting = new NestingBenchmarks();
    if (what == "nesting") nesting.Setup();
    if ((what, shape) == ("dma", "levels")) return SpinLevels(levels, seconds);
    Func<ulong> op = (what, shape) switch
    {
        ("hot", "legacy") => c.HotLegacy,
        ("hot", "fs") => c.HotFirstStage,
        ("hot", "nested") => c.HotNested,
        ("hot-pages", "legacy") => c.HotLegacyPages,
        ("hot-pages", "fs") => c.HotFirstStagePages,
        ("hot-pages", "nested") => c.HotNestedPages,
        ("kernel", "domain-4k") => k.MapUnmap4K,
        ("kernel", "ioas-4k") => k.IoasMapUnmap4K,
        ("steady", "domain-map") => steady.DomainMap4K,
        ("steady", "domain-unmap") => steady.DomainUnmap4K,
        ("steady", "ioas-map-unmap") => steady.IoasMapUnmap4K,
        ("dma", "host") => () => (ulong)levels.HostDma64(),
        ("dma", "l1") => () => (ulong)levels.L1Dma64(),
        ("dma", "l2") => () => (ulong)levels.L2Dma64(),
        ("nesting", "forward") => () => (ulong)nesting.ForwardOnePage(),
        ("nesting", "shadow") => () => (ulong)nesting.ShadowMapUnmap(),
        ("nesting", "shadow-neighbour") => () => (ulong)nesting.ShadowMapUnmapBesideANeighbour(),
        ("nesting", "shadow-4096") => () => (ulong)nesting.ShadowMapUnmapAmong4096(),
        ("walk", "legacy") => b.WalkLegacy4,
        ("walk", "fs") => b.WalkFirstStage4,
        ("walk", "nested") => b.WalkNested4x4,
        ("translate", "legacy") => b.TranslateLegacy4,
        ("translate", "fs") => b.TranslateFirstStage4,
        ("translate", "nested") => b.TranslateNested4x4,
        _ => throw new ArgumentException($"unknown spin target '{what} {shape}'"),
    };
    // Rounds of ~0.25 s; the minimum is what a quiet machine gives, the median shows how noisy this one is.
    var rounds = new List<double>();
    ulong sink = 0;
    var total = Stopwatch.StartNew();
    while (total.Elapsed.TotalSeconds < seconds)
    {
        var clock = Stopwatch.StartNew();
        long n = 0;
        while (clock.ElapsedMilliseconds < 250)
        {
            for (int i = 0; i < 100_000; i++) sink ^= op();
            n += 100_000;
        }
        rounds.Add(clock.Elapsed.TotalNanoseconds / n);
    }
    rounds.Sort();
    Console.WriteLine($"{what} {shape}: min {rounds[0]:F1} ns/op, median {rounds[rounds.Count / 2]:F1} ns/op over {rounds.Count} rounds (sink {sink & 0xF})");
    return 0;
}

// The three ThreeLevelBenchmarks rows in one process, in turns of ~0.1 s (host, L1, L2, host, ...): on a shared machine
// every row sees the same load, so the ratio of each turn to the host turn before it is steadier than separate runs.
static int SpinLevels(ThreeLevelBenchmarks levels, double seconds)
{
    Func<int>[] ops = [levels.HostDma64, levels.L1Dma64, levels.L2Dma64];
    var rounds = new List<double>[] { [], [], [] };
    var ratios = new List<double>[] { [], [] };
    int sink = 0;
    var total = Stopwatch.StartNew();
    while (total.Elapsed.TotalSeconds < seconds)
    {
        for (int k = 0; k < 3; k++)
        {
            Func<int> op = ops[k];
            var clock = Stopwatch.StartNew();
            long n = 0;
            while (clock.ElapsedMilliseconds < 100)
            {
                for (int i = 0; i < 20_000; i++) sink ^= op();
                n += 20_000;
            }
            rounds[k].Add(clock.Elapsed.TotalNanoseconds / n);
        }
        ratios[0].Add(rounds[1][^1] / rounds[0][^1]);
        ratios[1].Add(rounds[2][^1] / rounds[0][^1]);
    }
    foreach (var r in rounds) r.Sort();
    foreach (var r in ratios) r.Sort();
    string[] names = ["host", "l1", "l2"];
    for (int k = 0; k < 3; k++)
        Console.WriteLine($"dma {names[k]}: min {rounds[k][0]:F1} ns/op, median {rounds[k][rounds[k].Count / 2]:F1} ns/op over {rounds[k].Count} turns");
    Console.WriteLine($"ratio to the host turn before: l1 median {ratios[0][ratios[0].Count / 2]:F3}, l2 median {ratios[1][ratios[1].Count / 2]:F3}; " +
        $"of the minima: l1 {rounds[1][0] / rounds[0][0]:F3}, l2 {rounds[2][0] / rounds[0][0]:F3} (sink {sink & 0xF})");
    return 0;
}
