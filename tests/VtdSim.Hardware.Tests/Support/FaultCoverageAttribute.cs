using VtdSim.Hardware.Faults;

namespace VtdSim.Hardware.Tests.Support;

/// <summary>
/// Marks a test that raises <see cref="Reason"/> through the public API and asserts it. Faults/FaultCoverageTests uses
/// these marks to check that every fault reason the model can raise has such a test.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class FaultCoverageAttribute(FaultReason reason) : Attribute
{
    public FaultReason Reason { get; } = reason;
}
