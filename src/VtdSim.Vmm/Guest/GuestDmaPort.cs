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
/// <para>
/// The decision is not taken per DMA but kept as a <see cref="Route"/> per passthrough device (decision N70),
/// refreshed by the VMM whenever one of its inputs changes (the vIOMMU's TE and SRTP, nesting and shadowing set up or
/// torn down, the passthrough list) and, when the port below is another guest machine's (L2 on L1), followed through
/// it: an L2 device's route names the port and requester id where its request leaves the last guest machine, so a
/// DMA costs one look-up whatever the depth, and a change in L1 refreshes L2's routes.
/// </para>
/// </summary>
public sealed class GuestDmaPort : IDmaPort
{
    private readonly IDmaPort guest;
    private readonly IDmaPort below;
    private readonly GuestDmaPort? belowGuest;    // the port below is another guest machine's (this VMM runs in a guest)
    private readonly Func<bool> refuses;          // the vIOMMU translates and the host neither nests nor shadows for it
    private readonly Action hostFaulted;          // the VMM takes the faults the host queued for it (decision N47)
    private readonly List<GuestDmaPort> above = []; // ports of guest machines whose routes go through this one
    private (SourceId Guest, SourceId Host)[] passthrough = [];
    private Route[] routes = [];

    /// <summary>
    /// Where a passthrough device's request goes: to <paramref name="Target"/> with requester id
    /// <paramref name="Source"/> (null: refused behind the vIOMMU); after a fault, <paramref name="Faulted"/> lets each
    /// VMM whose level the request crossed take what its host queued, the lowest first.
    /// </summary>
    internal readonly record struct Route(SourceId Guest, IDmaPort? Target, SourceId Source, Action? Faulted);

    internal GuestDmaPort(IDmaPort guest, IDmaPort below, Func<bool> refuses, Action hostFaulted)
    {
        this.hostFaulted = hostFaulted;
        this.guest = guest;
        this.below = below;
        this.refuses = refuses;
        belowGuest = below as GuestDmaPort;
    }

    /// <summary>The passthrough functions: guest requester id → host requester id.</summary>
    public IReadOnlyList<(SourceId Guest, SourceId Host)> Passthrough => passthrough;

    internal void AddPassthrough(SourceId guestId, SourceId hostId)
    {
        if (passthrough.Length == 0) belowGuest?.above.Add(this);
        passthrough = [.. passthrough, (guestId, hostId)];
        Refresh();
    }

    internal void ClearPassthrough()
    {
        if (passthrough.Length != 0) belowGuest?.above.Remove(this);
        passthrough = [];
        Refresh();
    }

    /// <summary>
    /// Decides every passthrough device's route again, then those of the guest machines above whose routes go through
    /// this port: after any change of what <see cref="Decide"/> reads (decision N70).
    /// </summary>
    internal void Refresh()
    {
        var fresh = new Route[passthrough.Length];
        for (int i = 0; i < fresh.Length; i++) fresh[i] = Decide(passthrough[i].Guest, cached: true);
        routes = fresh;
        foreach (GuestDmaPort port in above) port.Refresh();
    }

    /// <summary>The route a request from <paramref name="id"/> takes now, as kept (a function not passed through goes to the guest's own port).</summary>
    internal Route CachedRoute(SourceId id)
    {
        foreach (Route r in routes)
            if (r.Guest == id) return r;
        return new Route(id, guest, id, null);
    }

    /// <summary>
    /// The route decided from the VMMs' state as it is now, level by level: the per-DMA decision before routes were
    /// kept, and the reference the property test holds <see cref="CachedRoute"/> to. With <paramref name="cached"/>
    /// false the levels below are decided afresh too; <see cref="Refresh"/> takes their kept routes (refreshed first).
    /// </summary>
    internal Route Decide(SourceId id, bool cached)
    {
        int i = Array.FindIndex(passthrough, p => p.Guest == id);
        if (i < 0) return new Route(id, guest, id, null);
        SourceId host = passthrough[i].Host;
        if (refuses()) return new Route(id, null, host, null);
        if (belowGuest is null) return new Route(id, below, host, hostFaulted);
        Route next = cached ? belowGuest.CachedRoute(host) : belowGuest.Decide(host, cached: false);
        // Refused there: that port answers, naming its own requester id.
        if (next.Target is null) return new Route(id, below, host, hostFaulted);
        return new Route(id, next.Target, next.Source, next.Faulted + hostFaulted);
    }

    public DmaTransferResult Read(in DmaRequest request, Span<byte> destination)
    {
        Route[] kept = routes;
        for (int i = 0; i < kept.Length; i++)
        {
            if (kept[i].Guest != request.Source) continue;
            if (kept[i].Target is not { } target) return BehindVIommu(in request);
            DmaTransferResult result = target.Read(request with { Source = kept[i].Source }, destination);
            if (result.Fault is not null) kept[i].Faulted?.Invoke();
            return result;
        }
        return guest.Read(in request, destination);
    }

    public DmaTransferResult Write(in DmaRequest request, ReadOnlySpan<byte> source)
    {
        Route[] kept = routes;
        for (int i = 0; i < kept.Length; i++)
        {
            if (kept[i].Guest != request.Source) continue;
            if (kept[i].Target is not { } target) return BehindVIommu(in request);
            DmaTransferResult result = target.Write(request with { Source = kept[i].Source }, source);
            if (result.Fault is not null) kept[i].Faulted?.Invoke();
            return result;
        }
        return guest.Write(in request, source);
    }

    private static DmaTransferResult BehindVIommu(in DmaRequest request) =>
        new(0, null, $"DMA by passthrough device {request.Source} behind the vIOMMU: it translates without nesting (x-flts=on in scalable mode) or shadowing (caching-mode=on)");
}
