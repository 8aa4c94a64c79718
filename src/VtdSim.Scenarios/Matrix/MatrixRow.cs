using System.Text.RegularExpressions;

namespace VtdSim.Scenarios.Matrix;

/// <summary>
/// One row of the compatibility matrix, read off the run of its cell. Null verdicts: the VM did not start, so there
/// was nothing to observe.
/// </summary>
/// <param name="Number">The cell's 1-based place in the whole matrix (stable across shards).</param>
/// <param name="VmStarts">The VMM is running after `start`.</param>
/// <param name="StoppedBy">What stopped it: the errno of QEMU's message and the message (null when it started).</param>
/// <param name="Nesting">The device's DMA is translated by the guest's first stage nested in the host's second stage.</param>
/// <param name="RomRead">A device read of the VGA BIOS (0xc0000, GPA = IOVA before the guest's vIOMMU is on) completes.</param>
/// <param name="RomWrite">A device write there completes.</param>
/// <param name="RomFault">The fault that stopped the first of the two that did not complete.</param>
/// <param name="ReadOnlyCorrupted">Observed: the host IOMMU wrote a guest's table in memory its second stage maps read-only (a GuestTableWrite).</param>
/// <param name="TableWrites">How many such writes the run saw.</param>
/// <param name="GuestSees">What the guest's device DMA into its own buffer gives, and what the guest's kernel logs.</param>
/// <param name="NotApplicable">Why the malicious guest's act is not possible in this configuration (null: it is, or the guest is benign).</param>
public sealed partial record MatrixRow(
    int Number,
    MatrixCell Cell,
    bool VmStarts,
    string? StoppedBy,
    bool? Nesting,
    bool? RomRead,
    bool? RomWrite,
    string? RomFault,
    bool ReadOnlyCorrupted,
    int TableWrites,
    string GuestSees,
    string? NotApplicable)
{
    /// <summary>The VM column in words: yes, or no with what stopped it (QEMU's program and -device prefix left out).</summary>
    public string VmText => VmStarts ? "yes" : "no: " + QemuPrefix().Replace(StoppedBy ?? "", "");

    public string NestingText => Nesting is bool n ? (n ? "yes" : "no") : "-";

    public string RomText => RomRead is null ? "-"
        : RomRead == true && RomWrite == true ? "read-write"
        : RomRead == true ? $"read only ({RomFault})"
        : $"no ({RomFault})";

    public string CorruptedText => ReadOnlyCorrupted ? $"YES ({TableWrites} A/D write{(TableWrites == 1 ? "" : "s")} into a read-only page)" : "no";

    public string GuestText => Cell.GuestName + (Cell.Guest == MatrixGuest.Malicious && NotApplicable is not null
        ? (Cell.Viommu == MatrixViommu.None ? " (n/a: no vIOMMU; runs as benign)" : " (n/a: a legacy vIOMMU is shadowed; runs as benign)")
        : "");

    [GeneratedRegex(@"qemu-system-x86_64: (-device [^ ]+: )?")]
    private static partial Regex QemuPrefix();
}
