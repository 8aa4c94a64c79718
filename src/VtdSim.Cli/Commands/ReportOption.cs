using System.CommandLine;
using VtdSim.Report;

namespace VtdSim.Cli.Commands;

/// <summary>The report could not be written; <see cref="Exception.Message"/> says which file and why (exit status 74).</summary>
public sealed class ReportWriteException(string message) : IOException(message);

/// <summary>`--report FILE` of `vtdsim run`, `demo`, `analyze mtree` and `analyze debugfs`: a self-contained HTML report (docs/report.md).</summary>
public static class ReportOption
{
    public static Option<string?> Create(string what) => new("--report")
    {
        Description = $"also write {what} as one self-contained HTML file (no network; docs/report.md)",
        HelpName = "FILE",
    };

    /// <summary>Renders and writes the report when a file was given; a file that cannot be written is a <see cref="ReportWriteException"/>.</summary>
    public static void WriteIfAsked(string? path, Func<ReportDocument> build)
    {
        if (path is null) return;
        if (!ReportFile.TryWrite(path, HtmlReport.Render(build()), out string error)) throw new ReportWriteException(error);
    }
}
