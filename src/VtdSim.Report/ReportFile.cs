using System.Text;

namespace VtdSim.Report;

/// <summary>Writes a report to a file, answering a path it cannot write with a message, not an exception.</summary>
public static class ReportFile
{
    /// <summary>Writes <paramref name="html"/> (UTF-8, no byte-order mark) to <paramref name="path"/>; false with a one-line reason when it cannot.</summary>
    public static bool TryWrite(string path, string html, out string error)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(html);
        error = "";
        string problem;
        try
        {
            if (path.Length == 0) problem = "no file name given";
            else if (Directory.Exists(path)) problem = "is a directory";
            else
            {
                File.WriteAllText(path, html, new UTF8Encoding(false));
                return true;
            }
        }
        catch (UnauthorizedAccessException)
        {
            problem = "permission denied";
        }
        catch (DirectoryNotFoundException)
        {
            problem = "no such directory";
        }
        catch (PathTooLongException)
        {
            problem = "the name is too long";
        }
        catch (IOException e)
        {
            problem = Describe(e);
        }
        catch (ArgumentException)
        {
            problem = "not a valid file name";
        }
        catch (NotSupportedException)
        {
            problem = "not a valid file name";
        }
        error = $"cannot write the report to '{path}': {problem}";
        return false;
    }

    // The runtime's message for an I/O error names the path and the system's reason; keep the reason only.
    private static string Describe(IOException e)
    {
        string m = e.Message;
        int colon = m.LastIndexOf(" : ", StringComparison.Ordinal);
        if (colon >= 0) m = m[..colon];
        m = m.Trim().TrimEnd('.');
        if (m.Length > 1 && char.IsUpper(m[0]) && char.IsLower(m[1])) m = char.ToLowerInvariant(m[0]) + m[1..];
        return m.Length == 0 ? "an input/output error" : m;
    }
}
