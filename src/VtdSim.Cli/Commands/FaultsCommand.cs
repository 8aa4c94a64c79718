using System.CommandLine;
using Spectre.Console;
using VtdSim.Hardware.Faults;

namespace VtdSim.Cli.Commands;

/// <summary>`vtdsim faults`: the fault reason codes the model knows, with the spec's condition names.</summary>
public static class FaultsCommand
{
    public static Command Create(Func<IAnsiConsole> console)
    {
        var command = new Command("faults", "List VT-d fault reason codes with their spec condition names");
        command.SetAction(_ =>
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumns("FR", "condition", "qualified", "meaning");
            foreach (var f in FaultReasonInfo.All.OrderBy(f => f.Code))
                table.AddRow($"0x{f.Code:x2}", f.Condition, f.Qualified ? "yes" : "no", Markup.Escape(f.Meaning));
            console().Write(table);
            return 0;
        });
        return command;
    }
}
