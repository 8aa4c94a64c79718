using VtdSim.Cli;
using VtdSim.Report.Tests.Support;

namespace VtdSim.Report.Tests;

/// <summary>A report file that cannot be written is a message and exit status 74, never an exception.</summary>
public class ReportFileTests
{
    [Fact]
    public void ADirectoryOrAMissingDirectoryIsAMessage()
    {
        using var dir = new TempDir();
        Assert.False(ReportFile.TryWrite(dir.Path, "x", out string error));
        Assert.Equal($"cannot write the report to '{dir.Path}': is a directory", error);
        string missing = Path.Combine(dir.Path, "no", "such", "r.html");
        Assert.False(ReportFile.TryWrite(missing, "x", out error));
        Assert.Equal($"cannot write the report to '{missing}': no such directory", error);
        Assert.False(File.Exists(missing));
    }

    [Fact]
    public void ANameThatCannotBeAFileIsAMessage()
    {
        using var dir = new TempDir();
        Assert.False(ReportFile.TryWrite("", "x", out string error));
        Assert.Equal("cannot write the report to '': no file name given", error);
        string nul = Path.Combine(dir.Path, "a\0b.html");
        Assert.False(ReportFile.TryWrite(nul, "x", out error));
        Assert.Equal($"cannot write the report to '{nul}': not a valid file name", error);
        string longName = Path.Combine(dir.Path, new string('r', 300) + ".html"); // a name over 255 bytes
        Assert.False(ReportFile.TryWrite(longName, "x", out error));
        Assert.Equal($"cannot write the report to '{longName}': the name is too long", error);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void AFullDiskIsTheSystemsReasonWithoutThePath()
    {
        // /dev/full takes an open and fails every write with ENOSPC, as a full disk does.
        if (!File.Exists("/dev/full")) return;
        Assert.False(ReportFile.TryWrite("/dev/full", new string('x', 1 << 16), out string error));
        Assert.Equal("cannot write the report to '/dev/full': no space left on device", error);
    }

    [Fact]
    public void AFileIsWrittenAsUtf8WithoutAByteOrderMark()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "r.html");
        Assert.True(ReportFile.TryWrite(path, "<p>é</p>", out _));
        Assert.Equal("<p>é</p>"u8.ToArray(), File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData("run", "scenarios/03-vga-bios-table-erratum.yaml")]
    [InlineData("demo", "--scenario")] // the tour's screens of scenario 3 (the whole tour: TourReportTests)
    [InlineData("demo", "--walk")]
    [InlineData("analyze", "mtree")]
    public void EachCommandWritesItsReportAndAnswersADirectoryWith74(string command, string? argument)
    {
        using var dir = new TempDir();
        var args = new List<string> { command };
        if (command == "run") args.Add(Path.Combine(AppContext.BaseDirectory, argument!));
        if (command == "demo") args.AddRange(argument == "--scenario" ? ["--scenario", "3"] : [argument!]);
        if (command == "analyze") args.AddRange(["mtree", Path.Combine(AppContext.BaseDirectory, "captures", "q35-4g-booted.info-mtree-f.txt")]);
        string file = Path.Combine(dir.Path, "out.html");
        var output = new StringWriter();
        Assert.Equal(0, Program.Run([.. args, "--report", file], output));
        string html = File.ReadAllText(file);
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains(command == "analyze" ? "class=\"bar\"" : "<table class=\"grid\">", html, StringComparison.Ordinal);

        var failed = new StringWriter();
        Assert.Equal(Program.OutputError, Program.Run([.. args, "--report", dir.Path], failed));
        Assert.EndsWith($"vtdsim: cannot write the report to '{dir.Path}': is a directory\n", failed.ToString().ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }
}
