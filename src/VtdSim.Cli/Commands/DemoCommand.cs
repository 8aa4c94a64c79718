using System.CommandLine;
using Spectre.Console;
using VtdSim.Cli.Demo;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Scenarios.Loading;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim demo`: the guided tour through the built-in scenarios, ending with the compatibility matrix; `--scenario N`
/// for one; `--walk` for the erratum 772415 walk, the same unit with the erratum off and on, side by side (S28).
/// </summary>
public static class DemoCommand
{
    /// <param name="interactive">whether stdin and stdout are a terminal (the tour then waits for a key between screens)</param>
    /// <param name="flush">pushes the buffered output out (before a wait, after each screen's heading)</param>
    public static Command Create(Func<IAnsiConsole> console, Func<bool>? interactive = null, Action? flush = null)
    {
        var walk = new Option<bool>("--walk") { Description = "the erratum walk: a nested walk over a read-only second-stage page, the unit with erratum 772415 off (fault SFS.8) and on, reference by reference" };
        int[] numbers = ScenarioTour.Numbers();
        var scenario = CliOptions.OneOf("--scenario", "show one built-in scenario (its number: 3 is scenarios/03-…) instead of the whole tour", numbers,
            $"give one of {string.Join(", ", numbers)} (the numbers of the built-in scenarios)");
        var profile = CliOptions.Profile("--profile", "(--walk) profile with nested translation to run on (see `vtdsim profiles`); the walk runs it with erratum 772415 off and on",
            BuiltInProfiles.SapphireRapids,
            p => p.Ecap.NestedTranslation ? null
                : $"this profile has no nested translation (ECAP.NEST=0), which the demo needs; profiles with it: {string.Join(", ", BuiltInProfiles.All.Where(q => q.Ecap.NestedTranslation).Select(q => q.Name))}");
        var reach = CliOptions.Choice<ErratumReach>("--reach", "(--walk) which first-stage entries the erratum can write: TopLevelOnly (Intel's wording) or AllLevels (the thread's); default: the profile's");
        var level = CliOptions.Integer("--ro-level", "(--walk) first-stage level (1-4) whose table page lies in the read-only region", 1, 4, 4,
            "give 1 to 4 (the first-stage level whose table page is read-only; 4 is the top)");
        var write = new Option<bool>("--write") { Description = "(--walk) do a DMA write instead of a read (the leaf's D flag then needs setting too)" };
        var length = CliOptions.Integer("--length", $"(--walk) DMA length in bytes, 1 to {ErratumDemo.MaxLength} (every page it touches is mapped)", 1, ErratumDemo.MaxLength, 64,
            $"give 1 to {ErratumDemo.MaxLength} bytes ({ErratumDemo.MaxLength / 4096} pages, every one mapped)");
        var report = ReportOption.Create("what the tour showed (a part per screen, the matrix as a table), or with --walk both walks,");
        // --report goes with the tour and with the walk: it does not imply --walk (V63).
        Option[] walkOptions = [profile, reach, level, write, length];
        var command = new Command("demo", "The guided tour: each built-in scenario with the question it answers, its timeline and verdicts, then the compatibility matrix; --walk: the erratum walk")
        {
            walk, scenario, profile, reach, level, write, length, report,
        };
        command.Validators.Add(r =>
        {
            bool walkOptionGiven = walkOptions.Any(o => r.GetResult(o) is { Implicit: false });
            if (r.GetResult(scenario) is { Implicit: false } && (r.GetValue(walk) || walkOptionGiven))
                r.AddError("--scenario shows a scenario; --walk and its options (--profile, --reach, --ro-level, --write, --length) are the erratum walk: give one or the other");
        });
        command.SetAction(parse =>
        {
            if (parse.GetValue(walk) || walkOptions.Any(o => parse.GetResult(o) is { Implicit: false }))
            {
                var options = new ErratumDemoOptions
                {
                    Profile = parse.GetValue(profile)!,
                    Reach = parse.GetValue(reach),
                    ReadOnlyTableLevel = parse.GetValue(level),
                    Access = parse.GetValue(write) ? DmaAccess.Write : DmaAccess.Read,
                    Length = parse.GetValue(length),
                };
                ErratumDemoResult result = ErratumDemo.Run(options);
                ErratumDemoRenderer.Render(console(), result);
                ReportOption.WriteIfAsked(parse.GetValue(report), () => ErratumDemoReport.Build(result));
                return 0;
            }
            IAnsiConsole c = console();
            Func<bool>? next = interactive?.Invoke() == true ? () => ScenarioTour.AskAtTerminal(c, flush) : null;
            int? one = parse.GetValue(scenario);
            IReadOnlyList<string> names = one is int n ? BuiltInScenarios.Names.Where(s => ScenarioTour.Number(s) == n).ToList() : BuiltInScenarios.Names;
            string? file = parse.GetValue(report);
            TourReport? tour = file is null ? null : new TourReport(one is int k ? $"vtdsim demo --scenario {k}: built-in scenario {k}" : "vtdsim demo: the guided tour through the built-in scenarios");
            bool passed = ScenarioTour.Run(c, names, withMatrix: one is null, next, flush, tour);
            ReportOption.WriteIfAsked(file, () => tour!.Build());
            return passed ? 0 : RunCommand.ExpectationFailed;
        });
        return command;
    }
}
