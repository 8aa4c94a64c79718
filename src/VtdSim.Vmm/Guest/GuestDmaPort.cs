using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Translation;
using VtdSim.Machine;

namespace VtdSim.Vmm.Guest;

/// <summary>
/// Where the guest machine's PCI functions' DMA goes (decisions G8–G10). An emulated function's request goes to the
/// guest's own port: through the vIOMMU, which translates with the guest's tables in guest memory and moves the data
/// in guest memory (= the host's frames), or — without a vIOMMU — straight to guest memory, the address being a GPA.
/// A passthrough device's request is the host function's: without a vIOMMU its address is a GPA, which is the IOVA
/// the VFIO listener mapped, so it goes to the port of the machine the VMM runs on with the host requester id, and the
/// host IOMMU translates (and faults) it. So it does with a vIOMMU whose translation the guest has not enabled
/// (QEMU's "nodmar" address space: the device sees system memory). With nesting (x-flts=on, the guest in scalable
/// mode) it goes there too, the address being an IOVA of the guest's first stage: the host IOMMU walks that first
/// stage nested in the nest parent's second stage (decision N12). With caching-mode shadowing (a vIOMMU that
/// translates with a second stage) it goes there too, the address being an IOVA of the guest's tables: the device is
/// attached to its shadow IOAS, which maps what those tables map (decision N32). Behind a vIOMMU that translates
/// without either (no caching mode) the request is refused, nothing moves.
/// </summary>
public sealed class GuestDmaPort : IDmaPort
{
    private readonly IDmaPort guest;
    private readonly IDmaPort below;
    private readonly Func<bool> viommuTranslates; // the vIOMMU translates and the host does not nest for it
    private readonly Action hostFaulted;          // the VMM takes the faults the host queued for it (decision N47)
    private (SourceId Guest, SourceId Host)[] passthrough = [];

    internal GuestDmaPort(IDmaPort guest, IDmaPort below, Func<bool> viommuTranslates, Action hostFaulted)
    {
        this.hostFaulted = hostFaulted;
        this.guest = guest;
        this.below = below;
        this.viommuTranslates = viommuTranslates;
    }

    /// <summary>The passthrough functions: guest requester id → host requester id.</summary>
    public IReadOnlyList<(SourceId Guest, SourceId Host)> Passthrough => passthrough;

    internal void AddPassthrough(SourceId guestId, SourceId hostId) => passthrough = [.. passthrough, (guestId, hostId)];

    internal void ClearPassthrough() => passthrough = [];

    public DmaTransferResult Read(in DmaRequest request, Span<byte> destination)
    {
        if (passthrough.Length == 0 || !TryFindHost(request.Source, out SourceId host)) return guest.Read(in request, destination);
        if (viommuTranslates()) return BehindVIommu(in request);
        return Faulted(below.Read(request with { Source = host }, destination));
    }

    public DmaTransferResult Write(in DmaRequest request, ReadOnlySpan<byte> source)
    {
        if (passthrough.Length == 0 || !TryFindHost(request.Source, out SourceId host)) return guest.Write(in request, source);
        if (viommuTranslates()) return BehindVIommu(in request);
        return Faulted(below.Write(request with { Source = host }, source));
    }

    /// <summary>A passthrough DMA that faulted in the host: the VMM's turn to take what the host queued (one compare otherwise).</summary>
    private DmaTransferResult Faulted(DmaTransferResult result)
    {
        if (result.Fault is not null) hostFaulted();
        return result;
    }

    private bool TryFindHost(SourceId guestId, out SourceId host)
    {
        foreach (var (g, h) in passthrough)
        {
            if (g == guestId)
            {
                host = h;
                return true;
            }
        }
        host = default;
        return false;
    }

    private static DmaTransferResult BehindVIommu(in DmaRequest request) =>
        new(0, null, $"DMA by passthrough device {request.Source} behind the vIOMMU: it translates without nesting (x-flts=on in scalable mode) or shadowing (caching-mode=on)");
}
