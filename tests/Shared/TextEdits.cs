namespace VtdSim.Tests.Shared;

/// <summary>
/// The edits the parsers' fuzz tests make to a valid input (linked into every test project by tests/Directory.Build.props):
/// character edits and line edits, each given by generated numbers taken modulo the text's size, so every edit applies.
/// </summary>
internal static class TextEdits
{
    /// <summary>Each edit: 0 delete a character, 1 insert one, 2 replace one, 3 swap it with the next.</summary>
    public static string Chars(string text, (int Op, int At, char Ch)[] edits)
    {
        var s = new System.Text.StringBuilder(text);
        foreach (var (op, at, ch) in edits)
        {
            if (s.Length == 0) { s.Append(ch); continue; }
            int i = at % s.Length;
            switch (op)
            {
                case 0: s.Remove(i, 1); break;
                case 1: s.Insert(i, ch); break;
                case 2: s[i] = ch; break;
                default:
                    if (i + 1 < s.Length) (s[i], s[i + 1]) = (s[i + 1], s[i]);
                    break;
            }
        }
        return s.ToString();
    }

    /// <summary>Each edit: 0 drop a line (never the last one left), 1 repeat one elsewhere, 2 swap two.</summary>
    public static string Lines(string text, (int Op, int A, int B)[] edits)
    {
        var lines = text.Split('\n').ToList();
        foreach (var (op, a, b) in edits)
        {
            int i = a % lines.Count, j = b % lines.Count;
            switch (op)
            {
                case 0: if (lines.Count > 1) lines.RemoveAt(i); break;
                case 1: lines.Insert(j, lines[i]); break;
                default: (lines[i], lines[j]) = (lines[j], lines[i]); break;
            }
        }
        return string.Join('\n', lines);
    }
}
