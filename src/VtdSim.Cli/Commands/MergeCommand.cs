using System.CommandLine;
using VtdSim.Scenarios.Sharding;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim merge FILE…`: the `--json` outputs of every shard of a `vtdsim matrix --shard` or `vtdsim run --shard` sweep,
/// in any order, put back together into the output the unsharded command writes, byte for byte (decision S27). Exit
/// status: 0 merged (for `run`: every expectation held), 1 merged but a run failed, 2 a file is missing, unreadable,
/// not a shard, of another sweep, or a shard is given twice or missing (said on stderr, naming the file).
/// </summary>
public static class MergeCommand
{
    public static Command Create(Func<TextWriter> output, Func<TextWriter> error)
    {
        var files = new Argument<string[]>("FILE")
        {
            Description = "the --json outputs of the shards (`vtdsim matrix --shard I/N --json`, `vtdsim run --shard I/N --json`)",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("merge", "Merge the JSON outputs of the shards of a sweep into the unsharded result") { files };
        command.SetAction(parse =>
        {
            var inputs = new List<(string, string)>();
            foreach (string file in parse.GetValue(files) ?? [])
            {
                try
                {
                    inputs.Add((file, File.ReadAllText(file)));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return Refuse(error(), $"{file}: cannot read the file: {(e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : e is UnauthorizedAccessException ? "permission denied" : Io.UserText.Message(e))}");
                }
            }
            ShardOutput.MergeResult r = ShardOutput.Merge(inputs);
            if (r.Error is not null) return Refuse(error(), r.Error);
            TextWriter o = output();
            o.Write(r.Output);
            o.Flush();
            return r.Passed ? 0 : RunCommand.ExpectationFailed;
        });
        return command;
    }

    private static int Refuse(TextWriter e, string message)
    {
        e.WriteLine($"vtdsim: {message}");
        e.Flush();
        return Program.Usage;
    }
}
