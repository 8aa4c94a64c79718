using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Tracing;

/// <summary>
/// One memory reference made by the remapping hardware during a translation. <see cref="ForFirstStageLevel"/> says, for
/// a second-stage reference in a nested walk, which first-stage level's table GPA it was translating (0: the final GPA,
/// or not nested). <see cref="Gpa"/> is the guest-physical address of the entry, when it has one.
/// </summary>
public readonly record struct MemoryReference(
    TraceStage Stage,
    int Level,
    Hpa Address,
    ulong Value,
    ReferenceKind Kind = ReferenceKind.Read,
    ulong NewValue = 0,
    Gpa? Gpa = null,
    int ForFirstStageLevel = 0)
{
    public bool IsPagingRead => Kind == ReferenceKind.Read && Stage is TraceStage.FirstStage or TraceStage.SecondStage;
}
