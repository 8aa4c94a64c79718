using System.Text.Json;
using VtdSim.Scenarios.Model;

namespace VtdSim.Scenarios.Running;

/// <summary>
/// A run as JSON (`vtdsim run --json`): every step, every event, every verdict, in a fixed field order, so that the
/// same files give the same bytes (decision S8).
/// </summary>
public static class ScenarioJson
{
    public static string Write(IReadOnlyList<ScenarioRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        return JsonText.Write(w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("passed", runs.All(r => r.Passed));
            w.WriteStartArray("runs");
            WriteRuns(w, runs);
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>Each run as one object, as `runs` holds them (also the items of a `--shard` output).</summary>
    public static void WriteRuns(Utf8JsonWriter w, IEnumerable<ScenarioRun> runs)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(runs);
        foreach (ScenarioRun run in runs) WriteRun(w, run);
    }

    private static void WriteRun(Utf8JsonWriter w, ScenarioRun run)
    {
        w.WriteStartObject();
        w.WriteString("file", run.Scenario.File);
        w.WriteString("name", run.Scenario.Name);
        w.WriteBoolean("passed", run.Passed);
        w.WriteStartArray("steps");
        foreach (StepOutcome s in run.Steps)
        {
            w.WriteStartObject();
            w.WriteNumber("index", s.Index);
            w.WriteString("step", s.Step.Kind);
            w.WriteNumber("line", s.Step.Spot.Line);
            w.WriteString("description", s.Step.Describe());
            w.WriteString("status", s.Status.ToString().ToLowerInvariant());
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("events");
        foreach (ScenarioEvent e in run.Events)
        {
            w.WriteStartObject();
            if (e.Step < 0 || e.Step >= run.Steps.Count) w.WriteNull("step");
            else w.WriteNumber("step", e.Step);
            w.WriteString("level", e.Level);
            w.WriteString("kind", e.Kind);
            w.WriteString("text", e.Text);
            if (e.Errno is not null) w.WriteString("errno", e.Errno);
            if (e.FaultCode is byte code)
            {
                w.WriteString("faultReason", $"0x{code:x2}");
                w.WriteString("faultCondition", e.FaultCondition);
            }
            if (e.Gpa is ulong gpa) w.WriteString("gpa", $"0x{gpa:x}");
            if (e.Completed is bool completed) w.WriteBoolean("completed", completed);
            if (e.WalkUnit is not null)
            {
                w.WriteString("unit", e.WalkUnit);
                w.WriteString("stage", e.WalkStage);
                w.WriteString("access", e.WalkAccess);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("verdicts");
        foreach (Verdict v in run.Verdicts)
        {
            w.WriteStartObject();
            if (v.Step < 0) w.WriteNull("step");
            else w.WriteNumber("step", v.Step);
            w.WriteString("at", $"{run.Scenario.File}:{v.Expect.Spot.Line}:{v.Expect.Spot.Column}");
            w.WriteString("path", v.Expect.Spot.Path);
            w.WriteString("expect", v.Expect.Kind);
            w.WriteString("expectation", v.Expect.Describe());
            w.WriteString("verdict", v.Pass ? "PASS" : "FAIL");
            w.WriteString("reason", v.Reason);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
