using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Support;

/// <summary>
/// Everything a call can allocate or take, counted: iommufd objects (by id, type and users) of each context, the
/// kernel's pages not held by the driver's lazily built remapping structures (root, context and PASID tables, which
/// Linux keeps once made, as the model does), user folios and bytes, the pages the processes' page tables map, pins,
/// domain ids, (device, PASID) translations, reserved ranges, areas and paging domains of every IOAS, bound devices.
/// </summary>
internal sealed record KernelCounts(
    string Objects,
    int KernelPages,
    int StructurePages,
    long UserPages,
    ulong UserBytes,
    long ResidentPages,
    long Pins,
    int DomainIds,
    int Translations,
    string Ioases,
    int BoundDevices)
{
    /// <summary>The counts of a kernel, its iommufd contexts, and the processes that opened them.</summary>
    public static KernelCounts Of(LinuxKernel kernel, params IommufdContext[] contexts)
    {
        var driver = kernel.Iommu;
        string objects = string.Join(" | ", contexts.Select(c => c.Closed ? "closed" : string.Join(",", c.Objects.Select(o => $"{o.Id}:{o.Type}/{o.Users}"))));
        string ioases = string.Join(" | ", contexts.Where(c => !c.Closed).SelectMany(c => c.Objects.OfType<Ioas>()).Select(i =>
            $"{i.Id}:areas={i.Iopt.AreaCount},reserved={i.Iopt.Reserved.Count},allowed={i.Iopt.Allowed.Count},domains={i.Iopt.Domains.Count}"));
        long resident = contexts.Select(c => c.Process).Distinct().Sum(p => (long)p.ResidentPages);
        return new KernelCounts(objects, kernel.Pages.PagesInUse - driver.StructurePages, driver.StructurePages,
            kernel.UserMemory.PagesInUse, kernel.UserMemory.BytesInUse, resident, kernel.UserMemory.TotalPins, driver.DomainIdsInUse,
            driver.Translations, ioases, kernel.BoundDeviceCount);
    }

    /// <summary>User folios that no page table maps (pinned after munmap, or leaked).</summary>
    public long UnmappedUserPages => UserPages - ResidentPages;

    /// <summary>The same state, apart from the structure pages, which may only grow.</summary>
    public bool SameAs(KernelCounts other) => this with { StructurePages = 0 } == other with { StructurePages = 0 };

    /// <summary>
    /// The same, except pages a failed call faulted into a process before it failed (Linux leaves those mapped too):
    /// folios may have been added if the page tables map each of them.
    /// </summary>
    public bool SameApartFromFaultedInPages(KernelCounts other) =>
        UnmappedUserPages == other.UnmappedUserPages
        && this with { StructurePages = 0, UserPages = 0, UserBytes = 0, ResidentPages = 0 }
            == other with { StructurePages = 0, UserPages = 0, UserBytes = 0, ResidentPages = 0 };
}
