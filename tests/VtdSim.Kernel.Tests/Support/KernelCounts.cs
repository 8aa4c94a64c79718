using VtdSim.Kernel.Iommufd;

namespace VtdSim.Kernel.Tests.Support;

/// <summary>
/// Everything a call can allocate or take, counted: iommufd objects (by id and type) of each context, the kernel's
/// pages not held by the driver's lazily built remapping structures (root, context and PASID tables, which Linux keeps
/// once made, as the model does), user folios and pins, domain ids, (device, PASID) translations, reserved ranges,
/// areas and paging domains of every IOAS, bound devices. A failed call must leave all of it as it was; destroying what
/// a sequence made must bring it back to where it started.
/// </summary>
internal sealed record KernelCounts(
    string Objects,
    int KernelPages,
    int StructurePages,
    long UserPages,
    ulong UserBytes,
    long Pins,
    int DomainIds,
    int Translations,
    string Ioases,
    int BoundDevices)
{
    public static KernelCounts Of(LinuxKernel kernel, params IommufdContext[] contexts)
    {
        var driver = kernel.Iommu;
        string objects = string.Join(" | ", contexts.Select(c => string.Join(",", c.Objects.Select(o => $"{o.Id}:{o.Type}/{o.Users}"))));
        string ioases = string.Join(" | ", contexts.SelectMany(c => c.Objects.OfType<Ioas>()).Select(i =>
            $"{i.Id}:areas={i.Iopt.AreaCount},reserved={i.Iopt.Reserved.Count},allowed={i.Iopt.Allowed.Count},domains={i.Iopt.Domains.Count}"));
        return new KernelCounts(objects, kernel.Pages.PagesInUse - driver.StructurePages, driver.StructurePages,
            kernel.UserMemory.PagesInUse, kernel.UserMemory.BytesInUse, kernel.UserMemory.TotalPins, driver.DomainIdsInUse,
            driver.Translations, ioases, kernel.BoundDeviceCount);
    }

    /// <summary>The same, except the structure pages (which may only grow).</summary>
    public bool SameAs(KernelCounts other) => this with { StructurePages = 0 } == other with { StructurePages = 0 };
}
