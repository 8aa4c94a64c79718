using System.CommandLine;
using Spectre.Console;
using VtdSim.Cli.Demo;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;

namespace VtdSim.Cli.Commands;

/// <summary>`vtdsim demo`: the erratum 772415 demonstration, architectural vs erratum side by side.</summary>
public static class DemoCommand
{
    public static Command Create(Func<IAnsiConsole> console)
    {
        var profile = new Option<string>("--profile") { Description = "profile with nested translation to run on (see `vtdsim profiles`)", DefaultValueFactory = _ => BuiltInProfiles.SapphireRapids.Name };
        var reach = new Option<ErratumReach?>("--reach") { Description = "which first-stage entries the erratum can write: TopLevelOnly (Intel's wording) or AllLevels (the thread's)" };
        var level = new Option<int>("--ro-level") { Description = "first-stage level (1-4) whose table page lies in the read-only region", DefaultValueFactory = _ => 4 };
        var write = new Option<bool>("--write") { Description = "do a DMA write instead of a read (the leaf's D flag then needs setting too)" };
        var length = new Option<int>("--length") { Description = "DMA length in bytes", DefaultValueFactory = _ => 64 };
        var command = new Command("demo", "Nested walk over a read-only second-stage page: architectural fault SFS.8 vs erratum 772415") { profile, reach, level, write, length };
        command.SetAction(parse =>
        {
            var options = new ErratumDemoOptions
            {
                Profile = BuiltInProfiles.Find(parse.GetValue(profile)!),
                Reach = parse.GetValue(reach),
                ReadOnlyTableLevel = parse.GetValue(level),
                Access = parse.GetValue(write) ? DmaAccess.Write : DmaAccess.Read,
                Length = parse.GetValue(length),
            };
            ErratumDemoRenderer.Render(console(), ErratumDemo.Run(options));
            return 0;
        });
        return command;
    }
}
