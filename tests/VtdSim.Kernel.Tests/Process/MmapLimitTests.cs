using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Process;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Process;

/// <summary>mmap's refusals at the edges of the user address space, with Linux's errno for each.</summary>
public class MmapLimitTests
{
    private readonly LinuxKernel _kernel = LinuxKernel.Boot(PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 32));

    [Fact]
    public void ProtectionBitsLinuxDoesNotKnowAreEinval()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.EINVAL, p.Mmap(4096, (MemoryProtection)0x10, out _));
        Assert.Empty(p.Mappings);
    }

    [Fact]
    public void ALengthThatFitsButNotWhenRoundedToHugePagesIsEnomem()
    {
        var p = _kernel.CreateProcess("a");
        // TASK_SIZE is not a multiple of 1 GiB: rounded up to whole huge pages the request is larger than the space.
        Assert.Equal(Errno.ENOMEM, p.Mmap(ProcessAddressSpace.TaskSize - 4096, MemoryProtection.ReadWrite, out _, flags: MapFlags.Hugetlb | MapFlags.Huge1GB));
        Assert.Empty(p.Mappings);
    }

    [Fact]
    public void NoGapLargeEnoughIsEnomem()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(4096, MemoryProtection.Read, out Uva va));
        Assert.Equal(Errno.ENOMEM, p.Mmap(ProcessAddressSpace.TaskSize - ProcessAddressSpace.MmapBase, MemoryProtection.Read, out _));
        Assert.Equal([va.Value], p.Mappings.Select(m => m.Start));
    }

    [Fact]
    public void ASharedFileMappingWithFlagsTheModelDoesNotKnowIsEinval()
    {
        var p = _kernel.CreateProcess("a");
        var file = _kernel.CreateFile("f", 4096);
        Assert.Equal(Errno.EINVAL, p.MmapShared(file, 0, 4096, MemoryProtection.Read, out _, flags: (MapFlags)0x1));
        Assert.Equal(Errno.EINVAL, p.MmapShared(file, 0, 4096, MemoryProtection.Read, out _, flags: MapFlags.Hugetlb | (MapFlags)(25u << 26)));
        Assert.Empty(p.Mappings);
    }
}
