using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace VtdSim.Scenarios.Running;

/// <summary>
/// The one way the commands write JSON: indented, relaxed escaping, `\n` line ends and a final newline (decision S8),
/// so that a result written in one piece and one merged from shards are the same bytes (S27).
/// </summary>
public static class JsonText
{
    public static readonly JsonWriterOptions Options = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Write(Action<Utf8JsonWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, Options)) write(w);
        return Encoding.UTF8.GetString(stream.ToArray()).ReplaceLineEndings("\n") + "\n";
    }
}
