using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Iommufd;

public partial class ErrnoTableTests
{
    [Fact]
    public void T12_BindOfAFunctionNoIommuTranslatesIsEinval()
    {
        var m = PhysicalMachine.WithoutIommu(1UL << 31);
        m.AddFunction(new PciFunction(IommufdBench.Dev0, "nic"));
        var kernel = LinuxKernel.Boot(m);
        Assert.Equal(Errno.EINVAL, kernel.OpenIommufd(kernel.CreateProcess("vmm")).DeviceBind(IommufdBench.Dev0, out _));
    }
}
