using System.Globalization;
using Spectre.Console;
using VtdSim.Cli.Commands;
using VtdSim.Scenarios.Loading;
using VtdSim.Scenarios.Matrix;
using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Cli.Demo;

/// <summary>
/// The guided tour (`vtdsim demo`, decision S28): every built-in scenario on a screen of its own — its title, the
/// question of the seed thread it answers, the timeline of its run and the verdicts — and then the compatibility matrix.
/// Between screens it waits for a key only when <c>next</c> is given (a terminal on both ends); otherwise it runs through.
/// </summary>
public static class ScenarioTour
{
    /// <summary>The number of a built-in scenario: the digits its file name starts with (scenarios/03-… is 3).</summary>
    public static int Number(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string file = name[(name.LastIndexOf('/') + 1)..];
        string digits = new(file.TakeWhile(char.IsAsciiDigit).ToArray());
        return digits.Length == 0 ? 0 : int.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
    }

    /// <summary>The numbers of the built-in scenarios, each once, in order.</summary>
    public static int[] Numbers() => BuiltInScenarios.Names.Select(Number).Where(n => n > 0).Distinct().Order().ToArray();

    /// <summary>
    /// Shows the scenarios <paramref name="names"/> one screen each, then the matrix when <paramref name="withMatrix"/>.
    /// <paramref name="next"/> is asked before every screen after the first: false stops the tour. Returns whether every
    /// expectation of every scenario shown held. <paramref name="flush"/> pushes what is written out (the output is
    /// buffered): after each heading, so the tour shows at once, and before each wait. With <paramref name="report"/>
    /// each screen shown is also added to it (`demo --report`; the runs then record their walks and maps, V2).
    /// </summary>
    public static bool Run(IAnsiConsole console, IReadOnlyList<string> names, bool withMatrix, Func<bool>? next, Action? flush = null, TourReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(names);
        int screens = names.Count + (withMatrix ? 1 : 0);
        bool passed = true;
        for (int i = 0; i < names.Count; i++)
        {
            if (i > 0 && !Next(console, next, flush)) return passed;
            // The screen's heading first: it needs nothing loaded, so the first output comes before YAML parsing and JIT.
            console.Write(new Rule($"[bold]{i + 1} of {screens}: scenario {Number(names[i])}[/]").LeftJustified());
            flush?.Invoke();
            ScenarioLoadResult loaded = BuiltInScenarios.Load(names[i]);
            Scenario scenario = loaded.Scenario ?? throw new InvalidOperationException($"the built-in scenario {names[i]} does not load: {loaded.Error}");
            console.MarkupLine($"[bold]{Markup.Escape(scenario.Name)}[/]");
            if (scenario.Question.Length > 0)
                console.Write(new Panel(Markup.Escape(scenario.Question.Trim())) { Header = new PanelHeader("the question from the thread"), Expand = true });
            if (scenario.Description.Length > 0) console.WriteLine(scenario.Description.Trim());
            console.WriteLine();
            ScenarioRun run = ScenarioRunner.Run(scenario, record: report is not null);
            passed &= run.Passed;
            report?.Scenario(i + 1, screens, Number(names[i]), run);
            RunCommand.Render(console, run);
        }
        if (!withMatrix) return passed;
        if (names.Count > 0 && !Next(console, next, flush)) return passed;
        console.Write(new Rule($"[bold]{screens} of {screens}: the compatibility matrix[/]").LeftJustified());
        console.WriteLine("Every row is a run of the model, as the scenarios above are (vtdsim matrix; --json, --csv, --markdown).");
        flush?.Invoke();
        IReadOnlyList<MatrixRow> rows = CompatibilityMatrix.Run();
        MatrixCommand.Render(console, rows);
        report?.Matrix(screens, screens, rows);
        return passed;
    }

    private static bool Next(IAnsiConsole console, Func<bool>? next, Action? flush)
    {
        if (next is null)
        {
            console.WriteLine();
            return true;
        }
        flush?.Invoke();
        if (!next()) return false;
        console.Clear();
        return true;
    }

    /// <summary>Waits for a key at a terminal: q or Escape stops, any other key goes on.</summary>
    public static bool AskAtTerminal(IAnsiConsole console, Action? flush = null)
    {
        ArgumentNullException.ThrowIfNull(console);
        console.Markup("[grey]press a key for the next screen, q to stop[/]");
        flush?.Invoke();
        ConsoleKeyInfo key = Console.ReadKey(intercept: true);
        console.WriteLine();
        return key.Key != ConsoleKey.Escape && key.KeyChar is not ('q' or 'Q');
    }
}
