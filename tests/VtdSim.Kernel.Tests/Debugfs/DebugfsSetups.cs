using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Intel.Debugfs;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Debugfs;

/// <summary>Booted model kernels with devices attached in each translation mode, for the debugfs tests.</summary>
public static class DebugfsSetups
{
    public static readonly SourceId Nic = KernelBench.Device;        // 00:02.0
    public static readonly SourceId Second = new(0, 6, 0);           // 00:06.0
    public static readonly SourceId Upper = new(1, 0x11, 2);         // 01:11.2, devfn 0x8a: the upper scalable context table
    public const ulong VgaBiosGpa = 0xC0000;

    /// <summary>
    /// Scalable mode: 00:02.0 on a first-stage domain (RID) and a second-stage domain at PASID 5, 00:06.0 nested over a
    /// nest parent, 01:11.2 second-stage with a 2 MiB page. Each domain maps a few pages at different IOVAs.
    /// </summary>
    public static KernelBench Scalable(IntelIommuOptions? options = null)
    {
        var bench = new KernelBench(BuiltInProfiles.SapphireRapids, options);
        bench.Machine.AddFunction(new PciFunction(Second, "second NIC"));
        bench.Machine.AddFunction(new PciFunction(Upper, "upper function"));
        var d = bench.Driver;
        Ok(d.AllocPaging(PagingDomainFlags.None, out var first));
        Ok(first!.Map(0x1000, 0x400_0000, 0x3000, IommuProt.Read | IommuProt.Write));
        Ok(first.Map(0x7f_0000_0000, 0x410_0000, 0x1000, IommuProt.Read));
        Ok(d.Attach(Nic, first));
        Ok(d.AllocPaging(PagingDomainFlags.NestParent, out var parent));
        Ok(parent!.Map(0, 0x500_0000, 0x10_0000, IommuProt.Read | IommuProt.Write));
        Ok(parent.Map(0x4000_0000, 0x600_0000, 0x20_0000, IommuProt.Read | IommuProt.Write)); // a 2 MiB page
        Ok(d.SetDevPasid(Nic, 5, parent));
        Ok(d.AllocNested(parent, new VtdS1Config(VtdS1Flags.None, 0x8000, 48), out var nested));
        Ok(d.Attach(Second, nested!));
        Ok(d.Attach(Upper, parent));
        return bench;
    }

    /// <summary>Legacy mode (intel_iommu=sm_off): 00:02.0 on a second-level domain, 00:06.0 in pass-through.</summary>
    public static KernelBench Legacy()
    {
        var bench = new KernelBench(BuiltInProfiles.SapphireRapids, new IntelIommuOptions { ScalableMode = false });
        bench.Machine.AddFunction(new PciFunction(Second, "second NIC"));
        var d = bench.Driver;
        Ok(d.AllocPaging(PagingDomainFlags.None, out var domain));
        Ok(domain!.Map(0x20_0000, 0x700_0000, 0x2000, IommuProt.Read | IommuProt.Write));
        Ok(domain.Map(0x1_0000_0000, 0x710_0000, 0x1000, IommuProt.Read));
        Ok(d.Attach(Nic, domain));
        Ok(d.Attach(Second, d.Identity));
        return bench;
    }

    /// <summary>
    /// Scenario 3's hazard on a host kernel without the erratum rule: the nest parent maps the VGA BIOS read-only
    /// (GPA 0xc0000) and the guest's first-stage table is there; 00:02.0 is nested over it.
    /// </summary>
    public static KernelBench VgaBiosHazard()
    {
        var bench = new KernelBench(BuiltInProfiles.SapphireRapids, new IntelIommuOptions { EnforceErratum772415 = false });
        var d = bench.Driver;
        Ok(d.AllocPaging(PagingDomainFlags.NestParent, out var parent));
        Ok(parent!.Map(0, 0x800_0000, 0xA_0000, IommuProt.Read | IommuProt.Write));
        Ok(parent.Map(0xC_0000, 0x80C_0000, 0x1_0000, IommuProt.Read));                   // the VGA BIOS, read-only
        Ok(parent.Map(0x10_0000, 0x810_0000, 0xF0_0000, IommuProt.Read | IommuProt.Write));
        Ok(d.AllocNested(parent, new VtdS1Config(VtdS1Flags.None, VgaBiosGpa, 48), out var nested));
        Ok(d.Attach(Nic, nested!));
        return bench;
    }

    public static List<(string Path, string Text)> Files(KernelBench bench) => [.. bench.Driver.DebugfsFiles().Select(f => (f.Key, f.Value))];

    public static DebugfsDump Parse(KernelBench bench)
    {
        Assert.True(DebugfsParser.TryParse(Files(bench), out var dump, out var error), error?.Message);
        return dump!;
    }

    private static void Ok(Errno e) => Assert.Equal(Errno.Success, e);
}
