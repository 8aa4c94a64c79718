namespace VtdSim.Vmm.Memory;

/// <summary>
/// The memory API of one VMM (QEMU's memory core, per machine instead of global): it makes regions, holds the address
/// spaces built on them, and after every change — or once at the end of a transaction — renders each address space
/// into its flat view and sends each listener the difference.
/// </summary>
public sealed class MemorySystem
{
    /// <summary>2^64: the size of a whole 64-bit address space, the largest region there is.</summary>
    public static readonly UInt128 AddressSpaceSize = (UInt128)1 << 64;

    private readonly List<AddressSpace> addressSpaces = [];
    private int transactionDepth;
    private bool pending;

    /// <summary>The address spaces in the order they were made.</summary>
    public IReadOnlyList<AddressSpace> AddressSpaces => addressSpaces;

    public MemoryRegion Container(string name, UInt128 size) => Make(name, RegionKind.Container, size);

    public MemoryRegion Ram(string name, UInt128 size, object? backing = null)
    {
        MemoryRegion r = Make(name, RegionKind.Ram, size);
        r.Backing = backing;
        return r;
    }

    public MemoryRegion Rom(string name, UInt128 size) => Make(name, RegionKind.Rom, size);

    public MemoryRegion RomDevice(string name, UInt128 size) => Make(name, RegionKind.RomDevice, size);

    public MemoryRegion RamDevice(string name, UInt128 size) => Make(name, RegionKind.RamDevice, size);

    public MemoryRegion Io(string name, UInt128 size) => Make(name, RegionKind.Io, size);

    public MemoryRegion Iommu(string name, UInt128 size) => Make(name, RegionKind.Iommu, size);

    /// <summary>An alias showing <paramref name="size"/> bytes of <paramref name="target"/> from <paramref name="offset"/> on.</summary>
    public MemoryRegion Alias(string name, MemoryRegion target, ulong offset, UInt128 size)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.System != this) throw new MemoryMapException($"memory region '{name}': its target '{target.Name}' belongs to another memory system");
        MemoryRegion.CheckSize(name, size);
        MemoryRegion.CheckAliasWindow(name, target, offset, size);
        var alias = new MemoryRegion(this, name, RegionKind.Alias, size, target, offset);
        target.AddAliasOf(alias);
        return alias;
    }

    /// <summary>
    /// An address space named <paramref name="name"/> whose root is <paramref name="root"/> (address_space_init);
    /// <paramref name="portIo"/> for a port I/O space, whose unassigned reads are all ones.
    /// </summary>
    public AddressSpace AddAddressSpace(string name, MemoryRegion root, bool portIo = false)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (root.System != this) throw new MemoryMapException($"address space '{name}': its root '{root.Name}' belongs to another memory system");
        if (root.Container is { } parent) throw new MemoryMapException($"address space '{name}': its root '{root.Name}' is a subregion of '{parent.Name}'");
        var space = new AddressSpace(this, name, root) { IsPortIo = portIo };
        addressSpaces.Add(space);
        space.Update(FlatViewRenderer.Render(FlatViewRenderer.FlatViewRoot(root)));
        return space;
    }

    /// <summary>
    /// Groups changes: the views are rendered, and listeners told, once when the outermost transaction ends
    /// (memory_region_transaction_begin/commit). Dispose the result to end it.
    /// </summary>
    public Transaction BeginTransaction()
    {
        transactionDepth++;
        return new Transaction(this);
    }

    internal bool IsRoot(MemoryRegion region) => addressSpaces.Exists(a => a.Root == region);

    internal void Changed()
    {
        pending = true;
        if (transactionDepth == 0) Commit();
    }

    private void EndTransaction()
    {
        if (transactionDepth == 0) return;
        if (--transactionDepth == 0 && pending) Commit();
    }

    private void Commit()
    {
        pending = false;
        // Address spaces with the same flat-view root share one rendering, as QEMU shares their FlatView.
        var views = new Dictionary<MemoryRegion, List<MemorySection>>(ReferenceEqualityComparer.Instance);
        List<MemorySection>? none = null;
        foreach (AddressSpace space in addressSpaces)
        {
            MemoryRegion? root = FlatViewRenderer.FlatViewRoot(space.Root);
            List<MemorySection> view;
            if (root is null) view = none ??= [];
            else if (!views.TryGetValue(root, out view!)) views[root] = view = FlatViewRenderer.Render(root);
            space.Update(view);
        }
    }

    private MemoryRegion Make(string name, RegionKind kind, UInt128 size)
    {
        ArgumentNullException.ThrowIfNull(name);
        MemoryRegion.CheckSize(name, size);
        return new MemoryRegion(this, name, kind, size, null, 0);
    }

    /// <summary>An open transaction; disposing it ends it.</summary>
    public readonly struct Transaction : IDisposable
    {
        private readonly MemorySystem system;

        internal Transaction(MemorySystem system) => this.system = system;

        public void Dispose() => system?.EndTransaction();
    }
}
