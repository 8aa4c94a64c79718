using VtdSim.Hardware;
using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Guest;

/// <summary>The intel_iommu register region's operations: the vIOMMU's register page, reached by the guest's MMIO.</summary>
internal sealed class VIommuRegisters(VtdUnit unit) : IRegionOps
{
    public bool TryRead(ulong offset, int size, out ulong value) => unit.TryMmioRead(unit.RegisterBase + offset, size, out value);

    public bool TryWrite(ulong offset, int size, ulong value) => unit.TryMmioWrite(unit.RegisterBase + offset, size, value);
}
