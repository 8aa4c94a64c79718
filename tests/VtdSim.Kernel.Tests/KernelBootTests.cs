using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests;

/// <summary>Booting the kernel: a memory layout the machine cannot hold, and an IOMMU that does not come up, are plain errors.</summary>
public class KernelBootTests
{
    private static PhysicalMachine Host(ulong size = 1UL << 32) => PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, size);

    public static TheoryData<KernelMemoryLayout, string> BadLayouts => new()
    {
        { KernelMemoryLayout.Default with { UserPagesLength = 4UL << 30 }, "does not fit in the machine's 0x100000000 bytes of memory" },
        { KernelMemoryLayout.Default with { KernelPages = new Hpa(0xFFF0_0000), KernelPagesLength = 2UL << 20 }, "does not fit" },
        { KernelMemoryLayout.Default with { UserPages = new Hpa(32UL << 20) }, "overlaps kernel and user pages" },
        { KernelMemoryLayout.Default with { KernelPages = new Hpa(1UL << 30), KernelPagesLength = 1UL << 20, UserPages = new Hpa(512UL << 20), UserPagesLength = 1UL << 30 }, "overlaps kernel and user pages" },
    };

    [Theory]
    [MemberData(nameof(BadLayouts))]
    public void ALayoutTheMachineCannotHoldIsRefusedInPlainWords(KernelMemoryLayout layout, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => LinuxKernel.Boot(Host(), layout));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("Parameter", e.Message);
        Assert.DoesNotContain(nameof(KernelMemoryLayout), e.Message);
        Assert.Contains($"kernel pages {layout.KernelPages}+0x{layout.KernelPagesLength:x}, user pages {layout.UserPages}+0x{layout.UserPagesLength:x}", e.Message);
    }

    [Fact]
    public void AnIommuThatDoesNotComeUpIsLoggedAndTheKernelBootsWithoutIt()
    {
        var sr = BuiltInProfiles.SapphireRapids;
        var machine = PhysicalMachine.Host(sr with { Name = "no-qi", Ecap = sr.Ecap.With(1, false) }, 1UL << 32);
        var kernel = LinuxKernel.Boot(machine);
        Assert.False(kernel.Iommu.Active);
        Assert.Contains("DMAR: dmar0: scalable mode needs queued invalidation", kernel.Log.Lines);
    }
}
