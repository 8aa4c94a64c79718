using System.CommandLine;
using Spectre.Console;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Commands;

/// <summary>`vtdsim profiles`: the built-in remapping-unit profiles with their capability registers and caches.</summary>
public static class ProfilesCommand
{
    public static Command Create(Func<IAnsiConsole> console)
    {
        var command = new Command("profiles", "List the built-in VT-d unit profiles: CAP/ECAP, erratum switch, translation caches");
        command.SetAction(_ =>
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumns("profile", "VER", "CAP", "ECAP", "HAW", "erratum 772415", "caches", "description");
            foreach (var p in BuiltInProfiles.All)
            {
                table.AddRow(p.Name, $"{p.Version >> 4}.{p.Version & 0xF}", p.Cap.ToString(), p.Ecap.ToString(), p.HostAddressWidth.ToString(),
                    p.Erratum772415 ? $"on ({p.ErratumReach})" : "off", Markup.Escape(p.Caches.Describe()), Markup.Escape(p.Description));
            }
            console().Write(table);
            return 0;
        });
        return command;
    }
}
