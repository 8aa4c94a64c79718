namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// The smallest firmware that lets QEMU run: 64 KiB of 0xFF with <c>cli; hlt</c> (FA F4) at the reset vector (offset
/// 0xFFF0, i.e. 0xFFFFFFF0). The vCPU halts for good, but the VM runs, so QEMU_CLOCK_VIRTUAL advances and edu's 100 ms
/// DMA timer fires (qemu-facts §7.3: 7.2 has no qtest accelerator, hence no clock_step). Generated at test time; no
/// binary is committed.
/// </summary>
public static class TinyBios
{
    public const int Size = 64 * 1024;

    public static byte[] Image()
    {
        var image = new byte[Size];
        Array.Fill(image, (byte)0xFF);
        image[0xFFF0] = 0xFA; // cli
        image[0xFFF1] = 0xF4; // hlt
        return image;
    }

    public static string WriteTo(string directory)
    {
        string path = Path.Combine(directory, "tiny-bios.bin");
        File.WriteAllBytes(path, Image());
        return path;
    }
}
