using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Iommufd;

/// <summary>
/// One open /dev/iommu file (struct iommufd_ctx): a table of objects with ids from 1 (the lowest free id is reused, as
/// xa_alloc does), and one method per ioctl taking the ioctl's fields — flags and reserved fields included, so every
/// documented errno can be reached — and returning an <see cref="Errno"/>; fields the kernel writes back are ref/out
/// parameters. User addresses (user_va) are addresses in the process that opened the file. Driver-specific user data
/// (data_uptr with data_len or entry_len) is a byte array, null standing for a NULL pointer; reading past its end is a
/// fault (EFAULT), as a copy_from_user past a mapping would be. The struct as user space passes it, with its
/// <c>size</c> field, goes through <see cref="Ioctl"/>, which applies Linux's size rule and calls these methods.
/// </summary>
public sealed partial class IommufdContext
{
    /// <summary>ULONG_MAX on a 64-bit kernel.</summary>
    private const ulong UlongMax = ulong.MaxValue;

    private readonly SortedDictionary<uint, IommufdObject> _objects = new();

    internal IommufdContext(LinuxKernel kernel, ProcessAddressSpace process)
    {
        Kernel = kernel;
        Process = process;
    }

    public LinuxKernel Kernel { get; }
    /// <summary>The process whose address space user_va values refer to.</summary>
    public ProcessAddressSpace Process { get; }
    public bool Closed { get; private set; }
    private IntelIommuDriver Driver => Kernel.Iommu;

    /// <summary>Every live object, by id.</summary>
    public IReadOnlyCollection<IommufdObject> Objects => _objects.Values;

    /// <summary>The object with an id, of any type, or null.</summary>
    public IommufdObject? Find(uint id) => _objects.GetValueOrDefault(id);

    /// <summary>The object with an id if it has type <typeparamref name="T"/>, else null.</summary>
    public T? Get<T>(uint id) where T : IommufdObject => Find(id) as T;

    // ---- the object table ----

    private uint Insert(IommufdObject obj)
    {
        ThrowIfClosed();
        uint id = 1;
        while (_objects.ContainsKey(id)) id++;
        obj.Id = id;
        _objects.Add(id, obj);
        return id;
    }

    private void Remove(IommufdObject obj) => _objects.Remove(obj.Id);

    /// <summary>Typed lookup (iommufd_get_ioas and friends): a missing id or one of another type is ENOENT.</summary>
    private Errno Lookup<T>(uint id, out T obj) where T : IommufdObject
    {
        ThrowIfClosed();
        if (_objects.GetValueOrDefault(id) is T found)
        {
            obj = found;
            return Errno.Success;
        }
        obj = null!;
        return Errno.ENOENT;
    }

    private void ThrowIfClosed()
    {
        if (Closed) throw new ObjectDisposedException(nameof(IommufdContext), "the iommufd file has been closed");
    }

    // ---- IOMMU_DESTROY ----

    /// <summary>
    /// IOMMU_DESTROY: ENOENT for an unknown id; EBUSY while anything refers to the object (an IOAS with HWPTs or
    /// accesses, a parent with nested HWPTs, a HWPT with devices) or a driver holds it (a bound device, an access).
    /// </summary>
    public Errno Destroy(uint id)
    {
        ThrowIfClosed();
        if (Find(id) is not IommufdObject obj) return Errno.ENOENT;
        if (obj.Users != 1) return Errno.EBUSY;
        DestroyObject(obj);
        return Errno.Success;
    }

    private void DestroyObject(IommufdObject obj)
    {
        switch (obj)
        {
            case Ioas ioas:
                ioas.Iopt.UnmapRange(0, UlongMax, out _);
                break;
            case HwptPaging paging:
                paging.Ioas.HwptList.Remove(paging);
                paging.Ioas.Iopt.RemoveDomain(paging.PagingDomain);
                Driver.Free(paging.PagingDomain);
                paging.Ioas.Users--;
                break;
            case HwptNested nested:
                Driver.Free(nested.NestedDomain);
                nested.Parent.Users--;
                break;
            case IommufdAccess access:
                access.Ioas.Users--;
                break;
            case VtdFaultQueue queue:
                queue.Hwpt.FaultQueue = null;
                queue.Hwpt.Users--;
                break;
            case IommufdDevice device:
                Kernel.RemoveBound(device);
                break;
        }
        Remove(obj);
    }

    /// <summary>
    /// close(): unbinds the devices (detaching them, as VFIO does when its file closes), destroys the accesses, then
    /// every object in dependency order. All pins of this file are released.
    /// </summary>
    public void Close()
    {
        if (Closed) return;
        foreach (var device in _objects.Values.OfType<IommufdDevice>().ToList()) DeviceUnbind(device.Id);
        foreach (var access in _objects.Values.OfType<IommufdAccess>().ToList()) AccessDestroy(access.Id);
        while (_objects.Count != 0)
        {
            var free = _objects.Values.Where(o => o.Users == 1).ToList();
            if (free.Count == 0) throw new InvalidOperationException("iommufd objects refer to each other in a cycle");
            foreach (var obj in free)
            {
                if (obj.Users == 1 && _objects.ContainsKey(obj.Id)) DestroyObject(obj);
            }
        }
        Closed = true;
    }
}
