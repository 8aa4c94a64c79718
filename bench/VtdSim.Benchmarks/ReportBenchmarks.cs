using System.Text;
using BenchmarkDotNet.Attributes;
using VtdSim.Report;
using VtdSim.Scenarios.Loading;
using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Benchmarks;

/// <summary>
/// `vtdsim run --report` on a scenario with 100 DMAs (issue 12's target: the report in under 1 s and under 5 MB):
/// scenario 3 (erratum) with a 100-page buffer mapped and one DMA per page, alternately read and write, after the
/// guest moved its first-stage table to the VGA BIOS. <see cref="Render100Dmas"/> is the report from the run;
/// <see cref="RunAndRender100Dmas"/> adds running the scenario with its walks recorded.
/// </summary>
public class ReportBenchmarks
{
    public const int Dmas = 100;

    private Scenario scenario = null!;
    private ScenarioRun run = null!;

    [GlobalSetup]
    public void Setup()
    {
        string text = File.ReadAllText(Path.Combine(MtreeBenchmarks.RepositoryRoot(), "scenarios", "03-vga-bios-table-erratum.yaml"))
            .Replace("size: 0x1000 }", $"size: 0x{Dmas * 0x1000:x} }}", StringComparison.Ordinal);
        // The steps are followed by the tour's question (a comment, then `question:`): cut it off before adding DMAs.
        int question = text.IndexOf("\n# The question", StringComparison.Ordinal);
        if (question >= 0) text = text[..question];
        var sb = new StringBuilder(text.TrimEnd()).Append('\n');
        for (int i = 1; i < Dmas; i++)
            sb.Append($"  - dma: {{ at: guest0, device: nic, address: 0x{0x1000000 + i * 0x1000:x}, access: {(i % 2 == 0 ? "write" : "read")}, size: 64 }}\n");
        ScenarioLoadResult loaded = ScenarioLoader.Load("100-dmas.yaml", sb.ToString());
        scenario = loaded.Scenario ?? throw new InvalidOperationException(loaded.Error!.ToString());
        run = ScenarioRunner.Run(scenario, record: true);
        int walks = run.Events.Count(e => e.Walk is not null);
        if (walks != Dmas) throw new InvalidOperationException($"{walks} walks recorded, not {Dmas}");
        Console.WriteLine($"// report of {Dmas} DMAs: {Encoding.UTF8.GetByteCount(Render100Dmas())} bytes");
    }

    [Benchmark]
    public string Render100Dmas() => HtmlReport.Render(ReportBuilder.FromScenarios([run]));

    [Benchmark]
    public string RunAndRender100Dmas() => HtmlReport.Render(ReportBuilder.FromScenarios([ScenarioRunner.Run(scenario, record: true)]));

    [Benchmark(Baseline = true)]
    public int RunWithoutReport100Dmas() => ScenarioRunner.Run(scenario).Events.Count;
}
