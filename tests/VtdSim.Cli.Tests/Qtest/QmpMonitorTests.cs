using System.Text;
using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// The QMP monitor (decisions Q60, Q61, Q63). Every expected line below is what Debian's QEMU 7.2.22 sent for the same
/// input (captured 2026-12-07 with libqtest's command line; the timestamps there were wall time, here the virtual
/// clock, and QEMU's version/package there are its own).
/// </summary>
public class QmpMonitorTests
{
    private static QmpMonitor Monitor(bool prelaunch = false, QemuVersion version = QemuVersion.Qemu72) =>
        new(new QtestMachine(new QtestMachineOptions()), version, prelaunch);

    private static string One(QmpMonitor m, string input) => Assert.Single(m.Execute(input));

    [Fact]
    public void TheGreetingHasQemusShape()
    {
        Assert.Equal("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"vtdsim\"}, \"capabilities\": [\"oob\"]}}",
            Monitor().Greeting());
        Assert.Contains("\"micro\": 0, \"minor\": 0, \"major\": 11", Monitor(version: QemuVersion.Qemu11).Greeting());
    }

    [Fact]
    public void ASessionAnswersAsQemu72()
    {
        var m = Monitor();
        Assert.Equal("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities negotiation with 'qmp_capabilities'\"}}",
            One(m, "{\"execute\":\"query-status\"}"));
        Assert.Equal("{\"return\": {}, \"id\": 1}", One(m, "{\"execute\":\"qmp_capabilities\",\"id\":1}"));
        Assert.Equal("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation is already complete, command ignored\"}}",
            One(m, "{\"execute\":\"qmp_capabilities\"}"));
        Assert.Equal("{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, \"id\": \"x\"}",
            One(m, "{\"execute\":\"query-status\",\"id\":\"x\"}"));
        Assert.Equal("{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}", One(m, "{\"execute\":\"query-status\",\"arguments\":{}}"));
        Assert.Equal("{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"vtdsim\"}}", One(m, "{\"execute\":\"query-version\"}"));
        Assert.Equal("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command foo has not been found\"}}", One(m, "{\"execute\":\"foo\"}"));
        Assert.Equal("{\"id\": [1, 2], \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command foo has not been found\"}}",
            One(m, "{\"execute\":\"foo\",\"id\":[1,2]}"));
        Assert.Equal("{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'exec' is unexpected\"}}", One(m, "{\"exec\":\"quit\"}"));
        Assert.Equal("{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input must be a JSON object\"}}", One(m, "[1]"));
        Assert.Equal("{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'a' is unexpected\"}}",
            One(m, "{\"execute\":\"query-status\",\"arguments\":{\"a\":1}}"));
        Assert.Equal("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command f\\u00F6\\u0001\\\"x has not been found\"}}",
            One(m, "{\"execute\":\"fö\\u0001\\\"x\"}"));

        Assert.Equal(["{\"timestamp\": {\"seconds\": 0, \"microseconds\": 0}, \"event\": \"STOP\"}", "{\"return\": {}}"], m.Execute("{\"execute\":\"stop\"}"));
        Assert.Equal("{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": false}}", One(m, "{\"execute\":\"query-status\"}"));
        Assert.Equal(["{\"timestamp\": {\"seconds\": 0, \"microseconds\": 0}, \"event\": \"RESUME\"}", "{\"return\": {}}"], m.Execute("{\"execute\":\"cont\"}"));
        Assert.False(m.QuitRequested);
        Assert.Equal(["{\"timestamp\": {\"seconds\": 0, \"microseconds\": 0}, \"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}",
            "{\"return\": {}, \"id\": {\"a\": \"\\u00E9\", \"b\": 1}}"], m.Execute("{\"execute\":\"quit\",\"id\":{\"b\":1,\"a\":\"é\"}}"));
        Assert.True(m.QuitRequested);
    }

    [Fact]
    public void WithDashSTheVmIsInPrelaunchUntilCont()
    {
        var m = Monitor(prelaunch: true);
        Assert.Equal("{\"return\": {}}", One(m, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}"));
        Assert.Equal("{\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}}", One(m, "{\"execute\":\"query-status\"}"));
        Assert.Equal("{\"return\": {}}", One(m, "{\"execute\":\"stop\"}")); // QEMU stops only a running VM
        Assert.Equal(2, m.Execute("{\"execute\":\"cont\"}").Count);
        Assert.Equal("running", m.Status);
        Assert.Equal("{\"return\": {}}", One(m, "{\"execute\":\"cont\"}"));
    }

    [Fact]
    public void EventsCarryTheVirtualClock()
    {
        var machine = new QtestMachine(new QtestMachineOptions());
        machine.SetClock(1_234_567_891);
        var m = new QmpMonitor(machine, QemuVersion.Qemu11, prelaunch: false);
        One(m, "{\"execute\":\"qmp_capabilities\"}");
        Assert.StartsWith("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 234567}, \"event\": \"STOP\"}", m.Execute("{\"execute\":\"stop\"}")[0]);
        Assert.Equal("{\"return\": {\"status\": \"paused\", \"running\": false}}", One(m, "{\"execute\":\"query-status\"}")); // no singlestep after 7.2 (Q63)
    }

    [Theory]
    [InlineData("{\"execute\":1}", "QMP input member 'execute' must be a string")]
    [InlineData("{\"execute\":\"quit\",\"arguments\":[]}", "QMP input member 'arguments' must be an object")]
    [InlineData("{\"id\":1}", "QMP input lacks member 'execute'")]
    [InlineData("{\"execute\":", "JSON parse error, invalid syntax")]
    [InlineData("{\"exec-oob\":\"quit\"}", "The command quit does not support OOB")]
    [InlineData("{\"execute\":\"system_reset\"}", "The command system_reset is not modelled by vtdsim (QEMU's reset keeps RAM and the clock; the qtest command reset builds the machine anew)")]
    public void BadInputGetsAGenericError(string input, string desc)
    {
        var m = Monitor();
        One(m, "{\"execute\":\"qmp_capabilities\"}");
        string reply = One(m, input);
        Assert.Contains("\"class\": \"GenericError\"", reply);
        Assert.Contains(QmpJson.String(desc), reply);
        Assert.False(m.QuitRequested);
    }

    [Theory]
    [InlineData("{\"enable\":[\"x\"]}", "Parameter 'enable[0]' does not accept value 'x'")]
    [InlineData("{\"enable\":\"oob\"}", "Invalid parameter type for 'enable', expected: array")]
    [InlineData("{\"other\":1}", "Parameter 'other' is unexpected")]
    public void CapabilitiesOtherThanOobAreRefusedAndNegotiationGoesOn(string arguments, string desc)
    {
        var m = Monitor();
        Assert.Contains(QmpJson.String(desc), One(m, $"{{\"execute\":\"qmp_capabilities\",\"arguments\":{arguments}}}"));
        Assert.Equal("{\"return\": {}}", One(m, "{\"execute\":\"qmp_capabilities\"}"));
    }

    [Fact]
    public void TheSplitterFindsValuesAcrossReadsAndReportsJunkAsQemu()
    {
        var splitter = new QmpInputSplitter();
        string input = "{\"execute\": \"a}\\\"{\"}[1,\n2]nonsense 12 \"s\" {\"x\":{\"y\":[]}}\r\n";
        var found = new List<(string, string?)>();
        foreach (byte b in Encoding.UTF8.GetBytes(input)) found.AddRange(splitter.Feed([b])); // one byte at a time
        Assert.Equal([("{\"execute\": \"a}\\\"{\"}", null), ("[1,\n2]", null), ("nonsense", "JSON parse error, invalid keyword 'nonsense'"),
            ("12", "QMP input must be a JSON object"), ("\"s\"", "QMP input must be a JSON object"), ("{\"x\":{\"y\":[]}}", null)], found);
        Assert.Equal(found, new QmpInputSplitter().Feed(Encoding.UTF8.GetBytes(input)));
    }

    [Fact]
    public void TheBucketOrderIsQemus()
    {
        // The orders QEMU 7.2 printed: return before id, id before error, timestamp/event/data, class/desc.
        Assert.True(QmpJson.Bucket("return") < QmpJson.Bucket("id") && QmpJson.Bucket("id") < QmpJson.Bucket("error"));
        Assert.True(QmpJson.Bucket("timestamp") < QmpJson.Bucket("event") && QmpJson.Bucket("event") < QmpJson.Bucket("data"));
        Assert.Equal("{\"a\": 1, \"b\": 2}", QmpJson.Object(("b", "2"), ("a", "1"))); // as QEMU printed an id {"b":1,"a":…}
        Assert.Equal("\"\\uD83D\\uDE00\\t\"", QmpJson.String("😀\t"));
    }

    [Fact]
    public void AnIdIsWrittenBackAsQemu72WritesWhatItParsed()
    {
        // Captured from Debian's QEMU 7.2.22 (`-M none -qmp stdio`, 2026-12-08): true, false and null as JSON literals, a
        // string with QEMU's escapes (\uXXXX in upper case for a control or non-ASCII character), a number as parsed,
        // an object's members in QEMU's bucket order.
        var m = Monitor();
        One(m, "{\"execute\":\"qmp_capabilities\"}");
        foreach ((string sent, string written) in new[]
        {
            ("true", "true"), ("false", "false"), ("null", "null"),
            ("\"q\\\"\\\\\\b\\f\\n\\r\\t\\u00e9\\u0001~\"", "\"q\\\"\\\\\\b\\f\\n\\r\\t\\u00E9\\u0001~\""),
            ("[1.5,{\"b\":2,\"a\":\"x\"}]", "[1.5, {\"a\": \"x\", \"b\": 2}]"),
        })
        {
            Assert.Equal("{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"vtdsim\"}, \"id\": " + written + "}",
                One(m, "{\"execute\":\"query-version\",\"id\":" + sent + "}"));
        }
    }
}
