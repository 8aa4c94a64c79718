using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests;

/// <summary>Booting with and without a DMA remapping unit, and with intel_iommu= on the command line (decisions B3–B6).</summary>
public class BootTests
{
    private static readonly SourceId Nic = new(0, 4, 0);
    private const uint Tes = 1u << 31;

    private static PhysicalMachine Host()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 36);
        m.AddFunction(new PciFunction(Nic, "nic"));
        return m;
    }

    private static uint Gsts(PhysicalMachine m) => (uint)m.Read(m.IommuBase + RegisterOffset.GSTS, 4);

    [Fact]
    public void WithAUnitTheDriverTakesItAndSaysSoAsLinuxDoes()
    {
        var m = Host();
        var kernel = LinuxKernel.Boot(m);

        Assert.True(kernel.Iommu.Active);
        Assert.Equal("DMAR: Intel(R) Virtualization Technology for Directed I/O", kernel.Log.Lines[^1]);
        Assert.NotEqual(0u, Gsts(m) & Tes);
    }

    [Fact]
    public void WithoutADmarTableTheKernelBootsAndLogsNothingAboutDmar()
    {
        var m = PhysicalMachine.WithoutIommu(1UL << 31);
        m.AddFunction(new PciFunction(Nic, "nic"));

        var kernel = LinuxKernel.Boot(m);

        Assert.False(kernel.Iommu.Active);
        Assert.DoesNotContain(kernel.Log.Lines, l => l.StartsWith("DMAR", StringComparison.Ordinal));
        Assert.Null(kernel.Iommu.FaultVector);
    }

    [Fact]
    public void OnAKernelWithoutAnIommuBindingADeviceToIommufdIsEinval()
    {
        var m = PhysicalMachine.WithoutIommu(1UL << 31);
        m.AddFunction(new PciFunction(Nic, "nic"));
        var kernel = LinuxKernel.Boot(m);
        var fd = kernel.OpenIommufd(kernel.CreateProcess("vmm"));

        Assert.Equal(Errno.EINVAL, fd.DeviceBind(Nic, out uint id));
        Assert.Equal(0u, id);
        Assert.Equal(Errno.ENOENT, fd.DeviceBind(new SourceId(0, 9, 0), out _)); // no such function: still ENOENT
        Assert.NotEqual(0u, fd.IoasAlloc()); // iommufd itself works: IOAS objects need no IOMMU
    }

    [Fact]
    public void IntelIommuOffLogsLinuxsLinesAndLeavesTheUnitOffSoDmaIsUntranslated()
    {
        var m = Host();
        var kernel = LinuxKernel.Boot(m, "root=/dev/vda intel_iommu=off");

        Assert.Equal(["Kernel command line: root=/dev/vda intel_iommu=off", "DMAR: IOMMU disabled"], kernel.Log.Lines);
        Assert.False(kernel.Iommu.Active);
        Assert.Equal(0u, Gsts(m) & Tes);
        Assert.True(m.Dma.Write(new DmaRequest(Nic, new Iova(0x3000_0000), DmaAccess.Write), BitConverter.GetBytes(0xC0FFEEUL)).Completed);
        Assert.Equal(0xC0FFEEUL, m.Read(new Hpa(0x3000_0000), 8));
        var fd = kernel.OpenIommufd(kernel.CreateProcess("vmm"));
        Assert.Equal(Errno.EINVAL, fd.DeviceBind(Nic, out _));
    }

    [Fact]
    public void IntelIommuOffTurnsOffTranslationAPreviousKernelLeftOn()
    {
        var m = Host();
        RegisterProgramming.EnableTranslation(m.HardwareIommu!, new Hpa(0x10_0000), TranslationTableMode.Scalable);
        Assert.NotEqual(0u, Gsts(m) & Tes);

        LinuxKernel.Boot(m, layout: null, options: new IntelIommuOptions { Enabled = false });

        Assert.Equal(0u, Gsts(m) & Tes);
    }

    [Fact]
    public void ABindOutsideTheUnitsDeviceScopeIsEinval()
    {
        var memory = new Hardware.Memory.PhysicalMemory(1UL << 36);
        var unit = new Hardware.VtdUnit(memory, BuiltInProfiles.SapphireRapids);
        var irq = new InterruptController();
        var scoped = new RemappingUnitDescription(unit.RegisterBase, IncludePciAll: false) { DeviceScope = [new SourceId(0, 5, 0)] };
        var m = new PhysicalMachine(memory, [scoped], new VtdUnitDmaPort(unit, irq), irq);
        m.Map(new VtdUnitMmio(unit));
        m.AddFunction(new PciFunction(Nic, "nic"));
        m.AddFunction(new PciFunction(new SourceId(0, 5, 0), "disk"));
        var kernel = LinuxKernel.Boot(m);
        var fd = kernel.OpenIommufd(kernel.CreateProcess("vmm"));

        Assert.Equal(Errno.EINVAL, fd.DeviceBind(Nic, out _));
        Assert.Equal(Errno.Success, fd.DeviceBind(new SourceId(0, 5, 0), out _));
    }

    [Fact]
    public void AUnitThatCannotBeBroughtUpIsLoggedAndTheKernelBootsWithoutIt()
    {
        // Two kernel pages: the queue and its status page fit, the root table does not.
        var layout = new KernelMemoryLayout(new Hpa(0x10_0000), 0x2000, new Hpa(64UL << 20), 960UL << 20);
        var kernel = LinuxKernel.Boot(Host(), layout);

        Assert.False(kernel.Iommu.Active);
        Assert.Equal("DMAR: Initialization failed", kernel.Log.Lines[^1]);
        Assert.Equal(Errno.EINVAL, kernel.OpenIommufd(kernel.CreateProcess("vmm")).DeviceBind(Nic, out _));
    }

    [Fact]
    public void ALayoutThatDoesNotFitIsAnErrorWhoseMessageNamesNoParameter()
    {
        var e = Assert.Throws<ArgumentException>(() => LinuxKernel.Boot(PhysicalMachine.WithoutIommu(1UL << 28)));
        Assert.Contains("does not fit in the machine's 0x10000000 bytes of memory", e.Message);
        Assert.DoesNotContain("Parameter", e.Message);
        var overlap = new KernelMemoryLayout(new Hpa(0x10_0000), 0x10_0000, new Hpa(0x18_0000), 0x10_0000);
        e = Assert.Throws<ArgumentException>(() => LinuxKernel.Boot(PhysicalMachine.WithoutIommu(1UL << 28), overlap));
        Assert.DoesNotContain("Parameter", e.Message);
    }

    // ---- intel_iommu= as Linux's intel_iommu_setup reads it ----

    [Theory]
    [InlineData("intel_iommu=on", true, true, "DMAR: IOMMU enabled")]
    [InlineData("intel_iommu=off", false, true, "DMAR: IOMMU disabled")]
    [InlineData("intel_iommu=sm_on", true, true, "DMAR: Enable scalable mode if hardware supports")]
    [InlineData("intel_iommu=sm_off", true, false, "DMAR: Scalable mode is disallowed")]
    [InlineData("intel_iommu=onion", true, true, "DMAR: IOMMU enabled")] // strncmp: "on" is a prefix
    public void EachOptionHasLinuxsEffectAndLine(string commandLine, bool enabled, bool scalable, string line)
    {
        var log = new KernelLog();
        var o = IntelIommuOptions.FromCommandLine(commandLine, log);

        Assert.Equal(enabled, o.Enabled);
        Assert.Equal(scalable, o.ScalableMode);
        Assert.Equal([line], log.Lines);
    }

    [Fact]
    public void ItemsApplyInOrderAndAnUnknownOneIsReportedWithTheRestOfTheValue()
    {
        var log = new KernelLog();
        var o = IntelIommuOptions.FromCommandLine("quiet intel_iommu=on,,sm_off,bogus,sp_off iommu=pt intel_iommu=off", log);

        Assert.False(o.Enabled);
        Assert.False(o.ScalableMode);
        Assert.False(o.SuperPages);
        Assert.Equal([
            "DMAR: IOMMU enabled",
            "DMAR: Scalable mode is disallowed",
            "DMAR: Unknown option - 'bogus,sp_off'",
            "DMAR: Disable supported super page",
            "DMAR: IOMMU disabled",
        ], log.Lines);
    }

    [Fact]
    public void OptionsTheModelHasNoSwitchForAreLoggedAsLinuxLogsThem()
    {
        var log = new KernelLog();
        var o = IntelIommuOptions.FromCommandLine("intel_iommu=igfx_off,forcedac,strict,tboot_noforce", log);

        Assert.Equal(IntelIommuOptions.Default, o);
        Assert.Equal([
            "DMAR: Disable GFX device mapping",
            "DMAR: intel_iommu=forcedac deprecated; use iommu.forcedac instead",
            "DMAR: intel_iommu=strict deprecated; use iommu.strict=1 instead",
            "DMAR: Intel-IOMMU: not forcing on after tboot. This could expose security risk for tboot",
        ], log.Lines);
    }

    [Fact]
    public void SmOffOnTheCommandLineBootsTheUnitInLegacyMode()
    {
        var m = Host();
        var kernel = LinuxKernel.Boot(m, "intel_iommu=on,sm_off");

        Assert.True(kernel.Iommu.Active);
        Assert.False(kernel.Iommu.ScalableMode);
        Assert.Equal(TranslationTableMode.Legacy, m.HardwareIommu!.TableMode);
    }
}

/// <summary>The same mistake as the layout message (a user's error naming a parameter), found in file creation.</summary>
public class CreateFileMessageTests
{
    [Fact]
    public void AFileSizeThatIsNotWholePagesIsAnErrorWhoseMessageNamesNoParameter()
    {
        var kernel = LinuxKernel.Boot(PhysicalMachine.WithoutIommu(1UL << 31));
        var e = Assert.Throws<ArgumentException>(() => kernel.CreateFile("guest-ram", 0x1234));
        Assert.Contains("file 'guest-ram': size 0x1234 must be a non-zero multiple of 4 KiB", e.Message);
        Assert.DoesNotContain("Parameter", e.Message);
    }
}
