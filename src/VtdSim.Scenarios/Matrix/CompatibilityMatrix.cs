using System.Globalization;
using System.Text.RegularExpressions;
using VtdSim.Kernel;
using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Scenarios.Matrix;

/// <summary>
/// The compatibility matrix of issue 11: host erratum on/off × kernel erratum rule on/off × VMM erratum policy ×
/// vIOMMU × guest. Every cell is a scenario built here and run by <see cref="ScenarioRunner"/>, as a file would be;
/// each row's verdicts are read off that run's events (decisions S20–S23), nothing is tabulated by hand.
/// </summary>
public static partial class CompatibilityMatrix
{
    /// <summary>The VMM erratum policies, in the matrix's order.</summary>
    public static readonly IReadOnlyList<string> Policies = ["qemu-7.2", "qemu-11", "wants-nesting-maps-ro", "never-ro"];

    /// <summary>The GPA a malicious guest puts its first-stage root table at: the VGA BIOS (read-only for the guest).</summary>
    public const ulong VgaBios = 0xc0000;

    /// <summary>The IOVA the guest maps a buffer at for its device.</summary>
    public const ulong BufferIova = 0x1000000;

    private const string Vm = "vm0", Nic = "nic";

    /// <summary>Every cell, in the matrix's fixed order (host erratum on first, then rule on, policies, vIOMMUs, guests).</summary>
    public static IReadOnlyList<MatrixCell> Cells()
    {
        var cells = new List<MatrixCell>();
        foreach (bool erratum in new[] { true, false })
            foreach (bool rule in new[] { true, false })
                foreach (string policy in Policies)
                    foreach (MatrixViommu viommu in Enum.GetValues<MatrixViommu>())
                        foreach (MatrixGuest guest in Enum.GetValues<MatrixGuest>())
                            cells.Add(new MatrixCell(erratum, rule, policy, viommu, guest));
        return cells;
    }

    /// <summary>
    /// The scenario of a cell: a host with function 00:04.0 and the kernel's rule as the cell says; one VMM (q35, 256M,
    /// with the VGA BIOS at 0xc0000, after SeaBIOS) passing it through under the policy with the vIOMMU; steps: start,
    /// the device reads and writes the VGA BIOS before the guest turns its vIOMMU on (GPA = IOVA), the guest boots, maps a
    /// buffer (with a vIOMMU), a malicious guest moves the first-stage root table to 0xc0000, the device writes the buffer.
    /// </summary>
    public static Scenario ScenarioOf(MatrixCell cell)
    {
        ArgumentNullException.ThrowIfNull(cell);
        var devices = new List<DeviceSpec>();
        if (cell.IntelIommuProperties is { } properties) devices.Add(new DeviceSpec(DeviceKind.IntelIommu, "intel-iommu", properties, Spot("vmms[0].devices[0]")));
        devices.Add(new DeviceSpec(DeviceKind.Passthrough, Nic, Nic, Spot($"vmms[0].devices[{devices.Count}]")));
        var vmm = new VmmSpec(Vm, "q35", 256UL << 20, Defaults: true, Booted: true, cell.Policy, "anonymous", devices, new GuestSpec(new KernelSpec(), []), Spot("vmms[0]"));
        var host = new HostSpec(cell.Profile, null, null, 8UL << 30, [new HostDeviceSpec(Nic, 0, 4, 0, Spot("host.devices[0]"))],
            new KernelSpec(ErratumRule: cell.KernelRule), Spot("host"));
        var steps = new List<StepSpec>
        {
            new StartStep(Vm, default),
            new DmaStep(Vm, Nic, VgaBios, false, 8, new byte[8], default),
            new DmaStep(Vm, Nic, VgaBios, true, 8, [0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5], default),
            new BootStep(Vm, default),
        };
        if (cell.Viommu != MatrixViommu.None) steps.Add(new MapStep(Vm, Nic, BufferIova, 0x1000, true, default));
        if (cell.Guest == MatrixGuest.Malicious && cell.NotApplicable is null) steps.Add(new FirstStageAtStep(Vm, Nic, VgaBios, true, default));
        steps.Add(new DmaStep(Vm, Nic, BufferIova, true, 8, [0x5a, 0, 0, 0, 0, 0, 0, 0], default));
        steps = steps.Select((s, i) => s with { Spot = Spot($"steps[{i}]") }).ToList();
        return new Scenario($"matrix/{Name(cell)}", cell.ToString(), "a cell of the compatibility matrix (vtdsim matrix)", host, [vmm], steps, []);
    }

    /// <summary>The cell as a file-like name: `sapphire-rapids.rule-on.qemu-11.x-flts.malicious`.</summary>
    public static string Name(MatrixCell cell) =>
        $"{cell.Profile}.rule-{(cell.KernelRule ? "on" : "off")}.{cell.Policy}.{cell.ViommuName.Replace(",", "+", StringComparison.Ordinal)}.{cell.GuestName}";

    /// <summary>Runs every cell (or the given ones) and reads its row off the run.</summary>
    public static IReadOnlyList<MatrixRow> Run(IReadOnlyList<MatrixCell>? cells = null)
    {
        IReadOnlyList<MatrixCell> all = Cells();
        cells ??= all;
        var rows = new MatrixRow[cells.Count];
        for (int i = 0; i < cells.Count; i++) rows[i] = Run(cells[i], IndexOf(all, cells[i]) + 1);
        return rows;
    }

    private static int IndexOf(IReadOnlyList<MatrixCell> all, MatrixCell cell)
    {
        for (int i = 0; i < all.Count; i++)
            if (all[i] == cell) return i;
        return -1;
    }

    /// <summary>Runs one cell; <paramref name="number"/> is its 1-based place in the whole matrix.</summary>
    public static MatrixRow Run(MatrixCell cell, int number)
    {
        Scenario scenario = ScenarioOf(cell);
        ScenarioRun run = ScenarioRunner.Run(scenario);
        return Read(cell, number, run);
    }

    private static MatrixRow Read(MatrixCell cell, int number, ScenarioRun run)
    {
        IReadOnlyList<ScenarioEvent> events = run.Events;
        ScenarioEvent? state = events.FirstOrDefault(e => e.Step == 0 && e.Level == Vm && e.Kind == "vmm");
        bool starts = state is not null && state.Text.StartsWith($"{Vm}: running", StringComparison.Ordinal);
        if (!starts)
            return new MatrixRow(number, cell, false, StoppedBy(events, state), null, null, null, null, false, 0, "nothing: the VM did not start", cell.NotApplicable);

        (bool read, string? readFault) = Probe(events, 1);
        (bool write, string? writeFault) = Probe(events, 2);
        bool nesting = events.Any(e => e.Level == Vm && e.Kind == "binding" && e.Text.Contains("nested: the guest's first stage", StringComparison.Ordinal));
        int tableWrites = events.Count(e => e.Level == Vm && e.Kind == "guest-table-write");
        int last = run.Steps.Count - 1;
        string guestSees = run.Steps[last].Status != StepStatus.Done
            ? "nothing: " + (events.LastOrDefault(e => e.Kind == "error")?.Text ?? "the run stopped")
            : GuestSees(events, last);
        return new MatrixRow(number, cell, true, null, nesting, read, write, readFault ?? writeFault, tableWrites > 0, tableWrites, guestSees, cell.NotApplicable);
    }

    /// <summary>Whether the DMA of a probe step completed, and if not, the fault that stopped it.</summary>
    private static (bool Completed, string? Fault) Probe(IReadOnlyList<ScenarioEvent> events, int step)
    {
        bool completed = events.Any(e => e.Step == step && e.Kind == "dma" && e.Completed == true);
        ScenarioEvent? fault = events.FirstOrDefault(e => e.Step == step && e.Kind == "fault");
        string access = step == 1 ? "read" : "write";
        return (completed, completed ? null : fault is { FaultCode: byte code } ? $"a {access} faults with 0x{code:x2} {fault.FaultCondition} ({fault.Level})" : $"a {access} does not complete");
    }

    private static string GuestSees(IReadOnlyList<ScenarioEvent> events, int step)
    {
        var mine = events.Where(e => e.Step == step).ToList();
        if (mine.Any(e => e.Kind == "dma" && e.Completed == true)) return "the DMA completes";
        ScenarioEvent? fault = mine.FirstOrDefault(e => e.Kind == "fault");
        string what = fault is { FaultCode: byte code } ? $"the DMA faults (0x{code:x2} {fault.FaultCondition} in the {(fault.Level == "host" ? "host IOMMU" : "vIOMMU")})" : "the DMA does not complete";
        ScenarioEvent? guestLine = mine.FirstOrDefault(e => e.Level == Vm && e.Kind == "kernel-log" && e.Text.Contains("[fault reason ", StringComparison.Ordinal));
        if (guestLine is not null && FaultReasonPattern().Match(guestLine.Text) is { Success: true } m)
            return $"{what}; the guest's DMAR logs fault reason {m.Groups[1].Value} ({m.Groups[2].Value})";
        return what + "; nothing reaches the guest";
    }

    /// <summary>What stopped a VM: the errno in QEMU's message (when there is one) and the message.</summary>
    private static string StoppedBy(IReadOnlyList<ScenarioEvent> events, ScenarioEvent? state)
    {
        ScenarioEvent? line = events.LastOrDefault(e => e.Level == Vm && e.Kind == "qemu-log");
        if (line is null) return state?.Text ?? "the VM did not start";
        Match m = ErrnoPattern().Match(line.Text);
        if (m.Success && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && Enum.IsDefined((Errno)n))
            return $"{(Errno)n}: {line.Text}";
        return line.Text;
    }

    private static SourceSpot Spot(string path) => new(0, 0, path);

    [GeneratedRegex(@"= -(\d+) \(")]
    private static partial Regex ErrnoPattern();

    [GeneratedRegex(@"\[fault reason (0x[0-9a-f]+)\] (.*)$")]
    private static partial Regex FaultReasonPattern();
}
