using VtdSim.Kernel.Process;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Nesting;

namespace VtdSim.Vmm;

// Caching-mode shadowing of passthrough devices under a vIOMMU that translates with a second stage (docs/vmm.md
// "Shadowing", decisions N30–N36).
public sealed partial class Vmm
{
    private ShadowObserver? shadowing;

    /// <summary>The passthrough devices' shadows (empty unless the vIOMMU has caching-mode=on and devices are passed through).</summary>
    public IReadOnlyList<ShadowBinding> ShadowBindings => shadowing?.Bindings ?? [];

    /// <summary>A passthrough device's DMA goes to the host as it is: its IOAS follows what the vIOMMU would do (N32).</summary>
    internal bool PassthroughShadowed => shadowing is not null;

    /// <summary>After the nesting set-up: one shadow per device, the vIOMMU observed (in front of the nesting observer).</summary>
    private void StartShadowing()
    {
        if (VIommu is null || Options.IntelIommu is not { CachingMode: true } || container is null || devices.Count == 0) return;
        var bindings = devices.Select((d, i) => new ShadowBinding(this, d, container, 4 + i, container.Address + 0x200 * (ulong)(i + 1))).ToArray();
        shadowing = new ShadowObserver(this, VIommu, bindings, viommuWatch!.Next);
        viommuWatch.Next = shadowing;
        guestDma!.Refresh();
    }

    private void StopShadowing()
    {
        if (shadowing is null) return;
        if (viommuWatch is not null && viommuWatch.Next == shadowing) viommuWatch.Next = null;
        foreach (ShadowBinding b in shadowing.Bindings) b.Release();
        shadowing = null;
        guestDma?.Refresh();
    }

    /// <summary>
    /// vfio_get_xlat_addr for a shadow map: [gpa, gpa + size) lies in one RAM or ROM section backed by the process; its
    /// process address and whether the section is read-only.
    /// </summary>
    internal bool TryResolveRange(ulong gpa, ulong size, out Uva va, out bool readOnly)
    {
        va = default;
        readOnly = false;
        if (FindSection(gpa, out Uva? at) is not { } s || at is not Uva start || s.Kind == RegionKind.RomDevice) return false;
        if ((UInt128)s.Start + s.Size < (UInt128)gpa + size) return false;
        va = start;
        readOnly = s.ReadOnly;
        return true;
    }
}
