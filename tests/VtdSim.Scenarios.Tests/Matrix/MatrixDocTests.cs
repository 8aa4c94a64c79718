using VtdSim.Scenarios.Matrix;

namespace VtdSim.Scenarios.Tests.Matrix;

/// <summary>docs/scenarios.md holds the matrix as `vtdsim matrix --markdown` prints it, between its markers (S23).</summary>
public class MatrixDocTests
{
    private const string Begin = "<!-- matrix:begin -->\n", End = "<!-- matrix:end -->";

    [Fact]
    public void TheMatrixInDocsScenariosIsWhatTheModelGivesNow()
    {
        string doc = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "docs", "scenarios.md")).ReplaceLineEndings("\n");
        int begin = doc.IndexOf(Begin, StringComparison.Ordinal), end = doc.IndexOf(End, StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, $"docs/scenarios.md has no block from '{Begin.TrimEnd()}' to '{End}'");
        string inDoc = doc[(begin + Begin.Length)..end];
        string now = MatrixOutput.Markdown(MatrixTests.All.Value);
        Assert.True(inDoc == now,
            "docs/scenarios.md's matrix differs from what the model gives now. Regenerate it: put the output of " +
            "`dotnet run --project src/VtdSim.Cli -- matrix --markdown` between the markers, or run this test with VTDSIM_UPDATE_DOCS=1, " +
            $"which rewrites the block in the source tree. First difference at character {FirstDifference(inDoc, now)} of the block.");
    }

    /// <summary>With VTDSIM_UPDATE_DOCS=1: rewrites the block in the source tree's docs/scenarios.md (a helper for the line above, not a check).</summary>
    [Fact]
    public void UpdateTheDocWhenAsked()
    {
        if (Environment.GetEnvironmentVariable("VTDSIM_UPDATE_DOCS") != "1") return;
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VtdSim.slnx"))) dir = dir.Parent;
        Assert.NotNull(dir);
        string path = Path.Combine(dir.FullName, "docs", "scenarios.md");
        string doc = File.ReadAllText(path);
        int begin = doc.IndexOf(Begin, StringComparison.Ordinal), end = doc.IndexOf(End, StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin);
        File.WriteAllText(path, doc[..(begin + Begin.Length)] + MatrixOutput.Markdown(MatrixTests.All.Value) + doc[end..]);
    }

    private static int FirstDifference(string a, string b)
    {
        int i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i]) i++;
        return i;
    }
}
