using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Process;

/// <summary>
/// A kernel whose user memory can hold 1 GiB pages: the default layout's user range, [64 MiB, 1 GiB), has no 1 GiB
/// aligned block, so these put user memory at 4 GiB, above the MMIO hole.
/// </summary>
public static class HugePageKernel
{
    public const ulong GiB = 1UL << 30;

    public static KernelMemoryLayout Layout(ulong userBytes) => new(new Hpa(0x10_0000), 63UL << 20, new Hpa(4 * GiB), userBytes);

    public static LinuxKernel Boot(ulong userBytes = 4 * GiB, ulong machineBytes = 1UL << 36) =>
        LinuxKernel.Boot(PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, machineBytes), Layout(userBytes));
}
