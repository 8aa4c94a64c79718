using System.Buffers.Binary;
using VtdSim.Vmm.Machines;

namespace VtdSim.Vmm.Pci;

/// <summary>
/// A function's configuration space: 256 bytes (conventional PCI) or 4 KiB (PCI Express), little-endian, with a write
/// mask per bit as QEMU keeps one (decision E3). A write changes only the bits its mask allows, so the read-only
/// identity stays, the BARs answer the sizing protocol (their low bits — type, size — are not writable: writing all
/// ones reads back the size mask with the type bits), and the command register takes only I/O space, memory space,
/// bus master, SERR# and INTx disable. Bytes beyond the space read all ones.
/// </summary>
public sealed class PciConfigSpace
{
    public const int ConventionalSize = 0x100, ExpressSize = 0x1000;

    /// <summary>Registers of a type-0 header.</summary>
    public const int VendorIdOffset = 0x00, CommandOffset = 0x04, StatusOffset = 0x06, RevisionOffset = 0x08, ClassOffset = 0x09,
        CacheLineOffset = 0x0c, HeaderTypeOffset = 0x0e, Bar0Offset = 0x10, SubsystemVendorOffset = 0x2c, RomOffset = 0x30,
        CapabilitiesOffset = 0x34, InterruptLineOffset = 0x3c, InterruptPinOffset = 0x3d, HeaderSize = 0x40;

    /// <summary>Command register bits (PCI Local Bus 6.2.2).</summary>
    public const ushort CommandIo = 0x1, CommandMemory = 0x2, CommandBusMaster = 0x4, CommandSerr = 0x100, CommandIntxDisable = 0x400;

    /// <summary>Status bit 3: the function's INTx is asserted (read-only, set by the device).</summary>
    public const ushort StatusInterrupt = 0x8;

    /// <summary>What QEMU lets software write in the command register (0x0507, observed).</summary>
    public const ushort CommandWritable = CommandIo | CommandMemory | CommandBusMaster | CommandSerr | CommandIntxDisable;

    private readonly byte[] data;
    private readonly byte[] writable;

    internal PciConfigSpace(PciIdentity identity, IReadOnlyList<Bar> bars, ReadOnlySpan<byte> deviceArea = default, ReadOnlySpan<byte> deviceAreaMask = default)
    {
        int size = identity.Express ? ExpressSize : ConventionalSize;
        data = new byte[size];
        writable = new byte[size];
        Put16(VendorIdOffset, identity.VendorId);
        Put16(VendorIdOffset + 2, identity.DeviceId);
        Put16(StatusOffset, identity.Status);
        data[RevisionOffset] = identity.Revision;
        data[ClassOffset] = (byte)identity.ClassCode;
        data[ClassOffset + 1] = (byte)(identity.ClassCode >> 8);
        data[ClassOffset + 2] = (byte)(identity.ClassCode >> 16);
        data[HeaderTypeOffset] = identity.HeaderType;
        Put16(SubsystemVendorOffset, identity.SubsystemVendorId);
        Put16(SubsystemVendorOffset + 2, identity.SubsystemId);
        data[CapabilitiesOffset] = identity.CapabilitiesPointer;
        data[InterruptPinOffset] = identity.InterruptPin;
        writable[CommandOffset] = CommandWritable & 0xff;
        writable[CommandOffset + 1] = CommandWritable >> 8;
        writable[CacheLineOffset] = 0xff;
        writable[InterruptLineOffset] = 0xff;
        foreach (Bar bar in bars) InitBar(bar);
        // The device-specific area: QEMU leaves it writable except where capabilities lie (their own masks).
        writable.AsSpan(HeaderSize).Fill(0xff);
        deviceArea.CopyTo(data.AsSpan(HeaderSize));
        deviceAreaMask.CopyTo(writable.AsSpan(HeaderSize));
    }

    /// <summary>256 or 4096 bytes.</summary>
    public int Size => data.Length;

    public ushort Command => Get16(CommandOffset);

    public ushort Status => Get16(StatusOffset);

    /// <summary>
    /// A read of <paramref name="size"/> (1 to 4) bytes at <paramref name="offset"/>, little-endian; bytes beyond the
    /// space read 0xff.
    /// </summary>
    public uint Read(int offset, int size)
    {
        uint value = 0;
        for (int i = 0; i < Math.Min(size, 4); i++)
        {
            int at = offset + i;
            uint b = at >= 0 && at < data.Length ? data[at] : 0xffu;
            value |= b << (8 * i);
        }
        return value;
    }

    /// <summary>The write mask of the bytes at <paramref name="offset"/> (tests and tools).</summary>
    public uint WriteMask(int offset, int size)
    {
        uint value = 0;
        for (int i = 0; i < Math.Min(size, 4) && offset + i < writable.Length; i++)
            if (offset + i >= 0) value |= (uint)writable[offset + i] << (8 * i);
        return value;
    }

    /// <summary>A write: only the writable bits of the bytes inside the space change.</summary>
    internal void Write(int offset, int size, uint value)
    {
        for (int i = 0; i < Math.Min(size, 4); i++)
        {
            int at = offset + i;
            if (at < 0 || at >= data.Length) continue;
            byte b = (byte)(value >> (8 * i));
            data[at] = (byte)((data[at] & ~writable[at]) | (b & writable[at]));
        }
    }

    /// <summary>The raw contents of a BAR register (8 bytes for a 64-bit BAR).</summary>
    internal ulong BarRegister(Bar bar) =>
        bar.Wide ? BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(bar.Register)) : BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(bar.Register));

    /// <summary>Sets or clears the device-owned status bit (INTx asserted).</summary>
    internal void SetStatusBit(ushort bit, bool on) => Put16(StatusOffset, (ushort)(on ? Status | bit : Status & ~bit));

    /// <summary>Sets bytes and their mask directly (a device's own registers and capabilities at realize time).</summary>
    internal void Define(int offset, ReadOnlySpan<byte> value, ReadOnlySpan<byte> mask)
    {
        value.CopyTo(data.AsSpan(offset));
        mask.CopyTo(writable.AsSpan(offset));
    }

    /// <summary>Device-owned bytes that software cannot write but the device changes (chipset registers it decodes).</summary>
    internal void Store(int offset, int size, uint value)
    {
        for (int i = 0; i < size && offset + i < data.Length; i++) data[offset + i] = (byte)(value >> (8 * i));
    }

    private void InitBar(Bar bar)
    {
        int at = bar.Register;
        ulong mask = ~(bar.Size - 1);
        ulong type = bar.Space switch
        {
            BarSpace.Io => 0x1,
            BarSpace.Prefetchable => 0x8UL | (bar.Wide ? 0x4UL : 0),
            BarSpace.Memory => bar.Wide ? 0x4UL : 0,
            _ => 0,
        };
        if (bar.Space == BarSpace.Rom) mask |= 1; // the enable bit
        else mask &= bar.Space == BarSpace.Io ? ~0x3UL : ~0xfUL;
        int width = bar.Wide ? 8 : 4;
        for (int i = 0; i < width; i++)
        {
            data[at + i] = (byte)(type >> (8 * i));
            writable[at + i] = (byte)(mask >> (8 * i));
        }
    }

    private ushort Get16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(offset));

    private void Put16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(offset), value);
}
