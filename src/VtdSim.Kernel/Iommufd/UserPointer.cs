using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Iommufd;

/// <summary>
/// A user pointer (<c>void __user *</c>) that an ioctl handler copies through, so the typed API and the byte-level
/// <see cref="IommufdContext.Ioctl"/> run the same handler code: either memory of the process that opened the file
/// (address 0 is NULL) or a byte array handed to the typed API (null is NULL). Copies behave like copy_from_user and
/// copy_to_user: EFAULT when a byte is out of reach (past the array, an unmapped page, a read-only page for a write),
/// and a write that faults part way leaves the bytes before the fault written.
/// </summary>
internal readonly struct UserPointer
{
    private readonly byte[]? _array;
    private readonly ProcessAddressSpace? _process;
    private readonly ulong _address;

    private UserPointer(byte[]? array, ProcessAddressSpace? process, ulong address)
    {
        _array = array;
        _process = process;
        _address = address;
    }

    /// <summary>A typed-API buffer; null stands for a NULL pointer.</summary>
    public static UserPointer Of(byte[]? array) => new(array, null, 0);

    /// <summary>An address in a process (0 is NULL).</summary>
    public static UserPointer At(ProcessAddressSpace process, ulong address) => new(null, process, address);

    public bool IsNull => _process is null ? _array is null : _address == 0;

    /// <summary>copy_from_user of <paramref name="destination"/>.Length bytes at <paramref name="offset"/>.</summary>
    public Errno Read(ulong offset, Span<byte> destination)
    {
        if (IsNull) return Errno.EFAULT;
        if (_process is not null)
            return offset > ulong.MaxValue - _address ? Errno.EFAULT : Fault(_process.Read(new Uva(_address + offset), destination));
        if (!Fits(offset, destination.Length)) return Errno.EFAULT;
        _array.AsSpan((int)offset, destination.Length).CopyTo(destination);
        return Errno.Success;
    }

    /// <summary>copy_to_user of <paramref name="source"/> at <paramref name="offset"/>.</summary>
    public Errno Write(ulong offset, ReadOnlySpan<byte> source)
    {
        if (IsNull) return Errno.EFAULT;
        if (_process is not null)
            return offset > ulong.MaxValue - _address ? Errno.EFAULT : Fault(_process.Write(new Uva(_address + offset), source));
        if (Fits(offset, source.Length))
        {
            source.CopyTo(_array.AsSpan((int)offset));
            return Errno.Success;
        }
        // What fits is written, as a faulting copy_to_user leaves it.
        if (offset < (ulong)_array!.Length) source[..(_array.Length - (int)offset)].CopyTo(_array.AsSpan((int)offset));
        return Errno.EFAULT;
    }

    /// <summary>clear_user of <paramref name="length"/> bytes at <paramref name="offset"/>, page by page.</summary>
    public Errno Clear(ulong offset, ulong length)
    {
        ReadOnlySpan<byte> zeros = Zeros;
        while (length != 0)
        {
            int n = (int)Math.Min(length, (ulong)zeros.Length);
            Errno e = Write(offset, zeros[..n]);
            if (e != Errno.Success) return e;
            offset += (ulong)n;
            length -= (ulong)n;
        }
        return Errno.Success;
    }

    private static readonly byte[] Zeros = new byte[ProcessAddressSpace.PageSize];

    private bool Fits(ulong offset, int length) => offset <= (ulong)_array!.Length && (ulong)length <= (ulong)_array.Length - offset;

    // Any failure to reach user memory is a bad address to the caller.
    private static Errno Fault(Errno e) => e == Errno.Success ? e : Errno.EFAULT;
}
