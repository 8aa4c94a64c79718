using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace VtdSim.Report.Tests.Support;

/// <summary>
/// Debian's chromium in headless mode, driven over the DevTools protocol (a WebSocket, System.Net.WebSockets): load a
/// page, collect every uncaught exception (Runtime.exceptionThrown) and every console or log message at level error
/// (Runtime.consoleAPICalled, Log.entryAdded: a blocked resource, a CSP violation), evaluate script in the page, and
/// take a screenshot. The protocol's events are structured and tied to the page, where stderr logging is free text
/// whose format and verbosity change between versions — hence the protocol (decision V14). Every step is bounded by a
/// timeout; dispose kills the whole process tree and removes the temporary profile directory.
/// </summary>
internal sealed class HeadlessChromium : IAsyncDisposable
{
    public const string Executable = "/usr/bin/chromium";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);
    private static readonly Lazy<string?> Skip = new(Probe);

    private readonly Process process;
    private readonly TempDir profile;
    private readonly ClientWebSocket socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonNode>> pending = new();
    private readonly ConcurrentQueue<string> problems = new();
    private readonly CancellationTokenSource stop = new();
    private TaskCompletionSource loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? receiver;
    private int nextId;

    private HeadlessChromium(Process process, TempDir profile)
    {
        this.process = process;
        this.profile = profile;
    }

    /// <summary>Why the browser tests cannot run here (no chromium, or it does not start), or null.</summary>
    public static string? SkipReason => Skip.Value;

    private static string? Probe()
    {
        if (!File.Exists(Executable))
            return $"{Executable} is not installed (.ci/install-deps installs Debian's chromium; it could not here): the browser tests are skipped";
        try
        {
            var p = Process.Start(new ProcessStartInfo(Executable, "--version") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
            if (!p.WaitForExit(30_000))
            {
                p.Kill(entireProcessTree: true);
                return $"{Executable} --version did not answer within 30 s: the browser tests are skipped";
            }
            return p.ExitCode == 0 ? null : $"{Executable} --version failed (exit {p.ExitCode}): the browser tests are skipped";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"{Executable} cannot be started ({e.Message}): the browser tests are skipped";
        }
    }

    /// <summary>Starts the browser on about:blank and attaches to its page with the Runtime, Log and Page domains on.</summary>
    public static async Task<HeadlessChromium> StartAsync(int width = 1280, int height = 900)
    {
        var profile = new TempDir();
        var info = new ProcessStartInfo(Executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string a in new[]
                 {
                     "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                     "--disable-background-networking", "--disable-sync", "--hide-scrollbars", "--mute-audio",
                     "--remote-debugging-port=0", "--remote-allow-origins=*", $"--user-data-dir={profile.Path}", $"--window-size={width},{height}",
                 })
            info.ArgumentList.Add(a);
        // Chromium's sandbox cannot run as root in a container: it refuses to start without this.
        if (Environment.UserName == "root") info.ArgumentList.Add("--no-sandbox");
        info.ArgumentList.Add("about:blank");
        var process = Process.Start(info) ?? throw new InvalidOperationException($"{Executable} did not start");
        var browser = new HeadlessChromium(process, profile);
        try
        {
            _ = process.StandardOutput.ReadToEndAsync();
            string endpoint = await WaitForEndpoint(process).WaitAsync(StepTimeout);
            int port = new Uri(endpoint).Port;
            using var http = new HttpClient { Timeout = StepTimeout };
            string pageSocket = "";
            for (int attempt = 0; attempt < 50 && pageSocket.Length == 0; attempt++)
            {
                JsonArray targets = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list"))!.AsArray();
                pageSocket = targets.FirstOrDefault(t => (string?)t!["type"] == "page")?["webSocketDebuggerUrl"]?.GetValue<string>() ?? "";
                if (pageSocket.Length == 0) await Task.Delay(100);
            }
            if (pageSocket.Length == 0) throw new InvalidOperationException("chromium shows no page target");
            using (var cts = new CancellationTokenSource(StepTimeout)) await browser.socket.ConnectAsync(new Uri(pageSocket), cts.Token);
            browser.receiver = Task.Run(browser.ReceiveLoop);
            await browser.Send("Runtime.enable");
            await browser.Send("Log.enable");
            await browser.Send("Page.enable");
            await browser.Send("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    private static async Task<string> WaitForEndpoint(Process p)
    {
        while (await p.StandardError.ReadLineAsync() is { } line)
        {
            int at = line.IndexOf("ws://", StringComparison.Ordinal);
            if (line.Contains("DevTools listening on", StringComparison.Ordinal) && at >= 0)
            {
                _ = DrainStandardError(p);
                return line[at..].Trim();
            }
        }
        throw new InvalidOperationException($"chromium exited (status {(p.HasExited ? p.ExitCode : -1)}) before it listened for DevTools");
    }

    private static async Task DrainStandardError(Process p)
    {
        try
        {
            while (await p.StandardError.ReadLineAsync() is not null) { }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    /// <summary>Exceptions and error messages the page produced since it was loaded.</summary>
    public IReadOnlyList<string> Problems => [.. problems];

    /// <summary>Loads <paramref name="file"/> and waits for its load event (scripts have run by then).</summary>
    public async Task LoadAsync(string file)
    {
        problems.Clear();
        loaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await Send("Page.navigate", new JsonObject { ["url"] = new Uri(Path.GetFullPath(file)).AbsoluteUri });
        await loaded.Task.WaitAsync(StepTimeout);
    }

    /// <summary>Evaluates <paramref name="expression"/> in the page; its value must be JSON-serialisable (returned by value).</summary>
    public async Task<JsonNode?> EvaluateAsync(string expression)
    {
        JsonNode result = await Send("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (result["exceptionDetails"] is { } ex) throw new InvalidOperationException($"the expression threw: {ex.ToJsonString()}");
        return result["result"]?["value"];
    }

    /// <summary>A PNG of the page from its top, <paramref name="height"/> CSS pixels high (or the element's box when a selector is given).</summary>
    public async Task<byte[]> ScreenshotAsync(string? selector = null, int maxHeight = 1400)
    {
        var args = new JsonObject { ["format"] = "png", ["captureBeyondViewport"] = true };
        if (selector is not null)
        {
            JsonNode? box = await EvaluateAsync($"(function(){{var e=document.querySelector({JsonSerializer.Serialize(selector)});if(!e)return null;e.scrollIntoView();var r=e.getBoundingClientRect();return {{x:r.left+window.scrollX,y:r.top+window.scrollY,w:r.width,h:r.height}};}})()");
            if (box is not null)
                args["clip"] = new JsonObject
                {
                    ["x"] = Math.Max(0, (double)box["x"]! - 8), ["y"] = Math.Max(0, (double)box["y"]! - 8),
                    ["width"] = Math.Min(1600, (double)box["w"]! + 16), ["height"] = Math.Min(maxHeight, (double)box["h"]! + 16), ["scale"] = 1,
                };
        }
        JsonNode result = await Send("Page.captureScreenshot", args);
        return Convert.FromBase64String((string)result["data"]!);
    }

    private async Task<JsonNode> Send(string method, JsonObject? parameters = null)
    {
        int id = Interlocked.Increment(ref nextId);
        var done = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending[id] = done;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        using (var cts = new CancellationTokenSource(StepTimeout))
            await socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, cts.Token);
        return await done.Task.WaitAsync(StepTimeout);
    }

    private async Task ReceiveLoop()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (socket.State == WebSocketState.Open && !stop.IsCancellationRequested)
            {
                WebSocketReceiveResult r = await socket.ReceiveAsync(buffer, stop.Token);
                if (r.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage) continue;
                JsonNode? m = JsonNode.Parse(message.ToArray());
                message.SetLength(0);
                if (m is null) continue;
                if (m["id"] is { } idNode && pending.TryRemove(idNode.GetValue<int>(), out var waiter))
                {
                    if (m["error"] is { } error) waiter.TrySetException(new InvalidOperationException($"DevTools: {error.ToJsonString()}"));
                    else waiter.TrySetResult(m["result"] ?? new JsonObject());
                    continue;
                }
                OnEvent((string?)m["method"], m["params"]);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
        }
        foreach (var waiter in pending.Values) waiter.TrySetException(new InvalidOperationException("the DevTools connection closed"));
    }

    private void OnEvent(string? method, JsonNode? p)
    {
        if (method == "Page.loadEventFired")
        {
            loaded.TrySetResult();
        }
        else if (method == "Runtime.exceptionThrown")
        {
            JsonNode? details = p?["exceptionDetails"];
            string what = (string?)details?["exception"]?["description"] ?? (string?)details?["text"] ?? "";
            problems.Enqueue("exception: " + what);
        }
        else if (method == "Runtime.consoleAPICalled")
        {
            string type = (string?)p?["type"] ?? "";
            if (type is "error" or "assert") problems.Enqueue("console." + type + ": " + p?["args"]?.ToJsonString());
        }
        else if (method == "Log.entryAdded")
        {
            JsonNode? entry = p?["entry"];
            if ((string?)entry?["level"] == "error")
                problems.Enqueue("log (" + (string?)entry?["source"] + "): " + (string?)entry?["text"] + " " + (string?)entry?["url"]);
        }
    }

    public async ValueTask DisposeAsync()
    {
        stop.Cancel();
        try
        {
            if (socket.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        socket.Dispose();
        if (receiver is not null) await Task.WhenAny(receiver, Task.Delay(5000));
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        process.Dispose();
        stop.Dispose();
        profile.Dispose();
    }
}

/// <summary>A fact that needs chromium; skipped, with the reason, where it is not installed or does not start.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (HeadlessChromium.SkipReason is { } reason) Skip = reason;
    }
}

/// <summary>A theory that needs chromium; skipped, with the reason, where it is not installed or does not start.</summary>
public sealed class ChromiumTheoryAttribute : TheoryAttribute
{
    public ChromiumTheoryAttribute()
    {
        if (HeadlessChromium.SkipReason is { } reason) Skip = reason;
    }
}
