namespace VtdSim.Vmm.Pci;

/// <summary>
/// The device-specific configuration area (0x40 on) of the chipset and default functions as QEMU 7.2.22 shows it at
/// reset, with the bits software can change: observed by reading each dword over 0xcf8/0xcfc (MMCONFIG for the e1000e's
/// extended space at 0x100), writing all ones and all zeros, and reading back (decision E3). These are facts about
/// QEMU's devices, not code: their capabilities (power management, MSI, PCI Express, AER, serial number) and chipset
/// registers read as QEMU's do. Functions not listed have an empty area that software can write, as QEMU's.
/// </summary>
internal static class QemuConfigImages
{
    /// <summary>Contents and write mask of 0x40–0xff, and for PCI Express functions of 0x100 on, in hex (little-endian bytes).</summary>
    internal sealed record Image(string Contents, string Mask, string ExtendedContents = "", string ExtendedMask = "");

    internal static readonly IReadOnlyDictionary<string, Image> ByName = new Dictionary<string, Image>(StringComparer.Ordinal)
    {
        ["mch"] = new(
            "0000000000000000000000000000000010000000000000000000000000000000000000b0000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000023800"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "ffffffffffffffffffffffffffffffff1000ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff002000ff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        ["e1000e"] = new(
            "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "1100040003000000032000000000000000000000000000000000000000000000000000000000000001d0220000000000"
            + "05e0800000000000000000000000000010a0910000800000000000001104000000001100000000000000000000000000",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "000000c00000000000000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff00000000031f0000"
            + "00000100fcffffffffffffffffffffff0000000000000000000000000000000000000000ffffffffffffffffffffffff",
            "010002140000000000000000302046000000000000e00000a00000000000000000000000000000000000000000000000"
            + "0000000000000000000000000000000003000100563412ffff00545200000000",
            "00000000000000000000000030f0ff0300000000c1f10000400100000000000000000000000000000000000000000000"
            + "00000000000000000000000000000000000000000000000000000000ffffffff"),
        ["ICH9-LPC"] = new(
            "010000000000000000000000000000000000000000000000000000000000000080808080000000008080808000000000"
            + "000000000000000000000000000000000000050000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "87ff0000ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        ["ich9-ahci"] = new(
            "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "0000000000000000000000000000000005a8800000000000000000000000000040000000000000000000000000000000"
            + "000000000000000012001000480000000000000000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffff00000100fcffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffff0000000000000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        ["ICH9-SMB"] = new(
            "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "f7ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        ["i440FX"] = new(
            "000000000000000000000000000000000000000000000010000000000000000000000000000000000000000000000000"
            + "000002000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        ["PIIX3"] = new(
            "0000000000000000000000004d0003000000000000000000000000000000000080808080000000000002000000000000"
            + "8000000000000c0c02000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "08000000000000000f000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        ["PIIX4_PM"] = new(
            "010000000000000000000000000000000000000000000000000000000000009000000060000000080000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000001b10000000000000000000000000000"
            + "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            + "000009000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
    };

    internal static (byte[] Contents, byte[] Mask) Area(string name, int size)
    {
        var contents = new byte[size - 0x40];
        var mask = new byte[size - 0x40];
        Array.Fill(mask, (byte)0xff);
        if (ByName.TryGetValue(name, out Image? image))
        {
            Convert.FromHexString(image.Contents).CopyTo(contents, 0);
            Convert.FromHexString(image.Mask).CopyTo(mask, 0);
            if (image.ExtendedContents.Length > 0 && size > 0x100)
            {
                Convert.FromHexString(image.ExtendedContents).CopyTo(contents, 0xc0);
                Convert.FromHexString(image.ExtendedMask).CopyTo(mask, 0xc0);
            }
        }
        return (contents, mask);
    }
}
