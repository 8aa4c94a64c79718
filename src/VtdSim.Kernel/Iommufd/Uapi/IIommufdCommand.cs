namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// An iommufd ioctl struct as user space lays it out (include/uapi/linux/iommufd.h): little endian, fields in
/// declaration order, 64-bit fields naturally aligned (__aligned_u64), no hidden padding. Its first field is
/// <c>size</c>, the length of the struct the caller knows.
/// </summary>
public interface IIommufdCommand<TSelf> where TSelf : struct, IIommufdCommand<TSelf>
{
    /// <summary>The request code, _IO(';', nr).</summary>
    static abstract uint Request { get; }

    /// <summary>sizeof(struct) in the kernel the model follows.</summary>
    static abstract int StructSize { get; }

    /// <summary>offsetofend of the last field of the struct's first version: a smaller <c>size</c> is EINVAL.</summary>
    static abstract int MinSize { get; }

    /// <summary>The fields from <see cref="StructSize"/> bytes.</summary>
    static abstract TSelf Read(ReadOnlySpan<byte> bytes);

    /// <summary>The fields into <see cref="StructSize"/> bytes.</summary>
    void Write(Span<byte> bytes);
}
