using System.CommandLine;
using Spectre.Console;
using VtdSim.Cli.Demo;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;

namespace VtdSim.Cli.Commands;

/// <summary>`vtdsim demo`: the erratum 772415 demonstration, the same unit with the erratum off and on, side by side.</summary>
public static class DemoCommand
{
    public static Command Create(Func<IAnsiConsole> console)
    {
        var profile = CliOptions.Profile("--profile", "profile with nested translation to run on (see `vtdsim profiles`); the demo runs it with erratum 772415 off and on",
            BuiltInProfiles.SapphireRapids,
            p => p.Ecap.NestedTranslation ? null
                : $"this profile has no nested translation (ECAP.NEST=0), which the demo needs; profiles with it: {string.Join(", ", BuiltInProfiles.All.Where(q => q.Ecap.NestedTranslation).Select(q => q.Name))}");
        var reach = CliOptions.Choice<ErratumReach>("--reach", "which first-stage entries the erratum can write: TopLevelOnly (Intel's wording) or AllLevels (the thread's); default: the profile's");
        var level = CliOptions.Integer("--ro-level", "first-stage level (1-4) whose table page lies in the read-only region", 1, 4, 4,
            "give 1 to 4 (the first-stage level whose table page is read-only; 4 is the top)");
        var write = new Option<bool>("--write") { Description = "do a DMA write instead of a read (the leaf's D flag then needs setting too)" };
        var length = CliOptions.Integer("--length", $"DMA length in bytes, 1 to {ErratumDemo.MaxLength} (every page it touches is mapped)", 1, ErratumDemo.MaxLength, 64,
            $"give 1 to {ErratumDemo.MaxLength} bytes ({ErratumDemo.MaxLength / 4096} pages, every one mapped)");
        var report = ReportOption.Create("both walks");
        var command = new Command("demo", "Nested walk over a read-only second-stage page: the unit with erratum 772415 off (fault SFS.8) and on") { profile, reach, level, write, length, report };
        command.SetAction(parse =>
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
        });
        return command;
    }
}
