using System.Diagnostics;
using System.Globalization;
using VtdSim.Differential.Tests.Infrastructure;
using VtdSim.Hardware.Profiles;
using VtdSim.Vmm.Devices;

namespace VtdSim.Differential.Tests;

/// <summary>
/// `-device intel-iommu,…` on both sides: Debian's QEMU 7.2 is started with the properties and its CAP and ECAP are
/// read over qtest (or its refusal is read from stderr); the model parses the same text with
/// <see cref="IntelIommuProperties"/> and derives the registers with <see cref="QemuIntelIommu"/>. They must agree
/// for every combination: the same registers, or the same message.
/// </summary>
public class IntelIommuPropertyTests
{
    public static TheoryData<string> Combinations() => new(
    [
        "", "x-scalable-mode=on", "aw-bits=48", "aw-bits=39", "caching-mode=on", "snoop-control=on", "device-iotlb=on", "pt=off",
        "intremap=off", "intremap=on", "eim=off", "x-buggy-eim=on", "eim=on,x-buggy-eim=on", "dma-drain=off", "dma-translation=off",
        "x-scalable-mode=on,x-pasid-mode=on", "x-scalable-mode=on,aw-bits=48,caching-mode=on,snoop-control=on", "version=7",
        "aw-bits=060", "aw-bits=0x30", "aw-bits= 48", "caching-mode=yes", "caching-mode=y", "caching-mode=true",
        // refusals, and which one QEMU reports first
        "aw-bits=40", "aw-bits=0", "aw-bits=256", "aw-bits=-1", "aw-bits=abc", "aw-bits=48 ", "caching-mode=maybe", "eim=maybe",
        "eim=on", "eim=on,intremap=off", "x-flts=on", "fs1gp=on", "stale-tm=on", "foo=1", "foo=1,bar=2", "x-pasid-mode=on",
        "x-pasid-mode=on,device-iotlb=on", "x-scalable-mode=on,dma-drain=off", "aw-bits=40,x-scalable-mode=on,dma-drain=off",
        "aw-bits=abc,caching-mode=maybe", "eim=x,snoop-control=x,dma-drain=x,x-pasid-mode=x", "version=4294967296", "bus=pcie.0",
    ]);

    [QemuTheory]
    [MemberData(nameof(Combinations))]
    public void TheModelDerivesWhatQemu72Reports(string properties)
    {
        Assert.Equal(Qemu(properties), Model(properties));
    }

    [QemuFact]
    public void RandomCombinationsAgreeToo()
    {
        // Seeded: every run draws the same combinations.
        var random = new Random(20261207);
        string[][] pools =
        [
            ["aw-bits=39", "aw-bits=48", "aw-bits=40"], ["x-scalable-mode=on", "x-scalable-mode=off"], ["caching-mode=on", "caching-mode=off"],
            ["snoop-control=on"], ["device-iotlb=on"], ["pt=off"], ["intremap=off", "intremap=on", "intremap=auto"], ["eim=on", "eim=off", "eim=auto"],
            ["x-buggy-eim=on"], ["dma-drain=off"], ["dma-translation=off"], ["x-pasid-mode=on"],
        ];
        for (int n = 0; n < 24; n++)
        {
            var chosen = pools.Where(_ => random.Next(3) == 0).Select(pool => pool[random.Next(pool.Length)]).OrderBy(_ => random.Next()).ToArray();
            string properties = string.Join(",", chosen);
            Assert.True(Qemu(properties) == Model(properties), $"-device intel-iommu,{properties}: QEMU {Qemu(properties)}, model {Model(properties)}");
        }
    }

    private static string Model(string properties)
    {
        if (!IntelIommuProperties.TryParse(QemuVersion.Qemu72, properties, out var p, out string error)) return error;
        if (!p.TryRealize(out QemuIntelIommu device, out error)) return error;
        return $"CAP=0x{device.Cap.Raw:x16} ECAP=0x{device.Ecap.Raw:x16}";
    }

    /// <summary>QEMU 7.2's CAP and ECAP with these properties, or the message it refuses them with.</summary>
    private static string Qemu(string properties)
    {
        string device = properties.Length == 0 ? "intel-iommu" : $"intel-iommu,{properties}";
        var start = new ProcessStartInfo("/usr/bin/timeout")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { "-s", "KILL", "60", QemuLocator.ExecutablePath!, "-M", "q35", "-nodefaults", "-display", "none", "-accel", "tcg", "-S",
                     "-qtest", "stdio", "-qtest-log", "/dev/null", "-device", device })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        // QEMU does not end at the end of a piped -qtest stdio: read the two answers, then stop it. A refused device
        // ends QEMU before qtest starts, so its stdout ends without answers.
        try
        {
            process.StandardInput.Write("readq 0xfed90008\nreadq 0xfed90010\n");
            process.StandardInput.Flush();
        }
        catch (IOException)
        {
            // QEMU refused the device and is gone already
        }
        var values = new List<string>();
        for (string? line; values.Count < 2 && (line = process.StandardOutput.ReadLine()) is not null;)
            if (line.StartsWith("OK 0x", StringComparison.Ordinal)) values.Add(line[3..]);
        if (values.Count == 2) process.Kill(entireProcessTree: true);
        process.WaitForExit();
        string prefix = $"qemu-system-x86_64: -device {device}: ";
        if (values.Count < 2)
        {
            string? refusal = stderr.Result.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal) && !l.Contains("warning", StringComparison.Ordinal));
            Assert.True(refusal is not null, $"QEMU answered neither registers nor a refusal for {device}: {stderr.Result}");
            return refusal[prefix.Length..];
        }
        ulong cap = ulong.Parse(values[0][2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        ulong ecap = ulong.Parse(values[1][2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return $"CAP=0x{cap:x16} ECAP=0x{ecap:x16}";
    }
}
