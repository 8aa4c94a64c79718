using System.Reflection;
using System.Text.RegularExpressions;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>docs/kernel-api.md's errno table and selftest mapping stay in step with the tests.</summary>
public partial class DocsTableTests
{
    private static string Doc()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string path = Path.Combine(dir.FullName, "docs", "kernel-api.md");
            if (File.Exists(path)) return File.ReadAllText(path);
        }
        throw new FileNotFoundException("docs/kernel-api.md not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^\| ([A-Z]\d+) \|", RegexOptions.Multiline)]
    private static partial Regex RowId();

    [GeneratedRegex(@"^\| `(\w+)` \|", RegexOptions.Multiline)]
    private static partial Regex MirrorTest();

    [Fact]
    public void EveryErrnoRowHasATestAndEveryTestARow()
    {
        var rows = RowId().Matches(Doc()).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(rows.Count, rows.Distinct().Count());
        var tests = typeof(ErrnoTableTests).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.GetCustomAttribute<FactAttribute>() is not null)
            .Select(m => m.Name.Split('_')[0]).ToList();
        Assert.Empty(rows.Except(tests));
        Assert.Empty(tests.Except(rows));
        Assert.True(rows.Count >= 100, $"only {rows.Count} rows");
    }

    [Fact]
    public void EveryMirroredSelftestNamedInTheDocsExists()
    {
        string doc = Doc();
        string section = doc[doc.IndexOf("## Selftest cases mirrored", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", 5, StringComparison.Ordinal)];
        var named = MirrorTest().Matches(section).Select(m => m.Groups[1].Value).ToList();
        var methods = typeof(SelftestMirrorTests).GetMethods().Select(m => m.Name).ToHashSet();
        Assert.NotEmpty(named);
        Assert.DoesNotContain(named, n => !methods.Contains(n));
        var tests = typeof(SelftestMirrorTests).GetMethods().Where(m => m.GetCustomAttribute<FactAttribute>() is not null).Select(m => m.Name);
        Assert.Empty(tests.Except(named));
    }
}
