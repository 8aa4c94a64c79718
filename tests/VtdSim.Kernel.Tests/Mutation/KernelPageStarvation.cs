using VtdSim.Hardware.Addressing;

namespace VtdSim.Kernel.Tests.Mutation;

/// <summary>Takes a kernel's free pages away until disposed, so the next page-table allocation fails (ENOMEM).</summary>
internal sealed class KernelPageStarvation : IDisposable
{
    private readonly LinuxKernel _kernel;
    private readonly List<Hpa> _taken = new();

    /// <summary>Takes every free page but the <paramref name="leave"/> last taken.</summary>
    public KernelPageStarvation(LinuxKernel kernel, int leave = 0)
    {
        _kernel = kernel;
        while (kernel.Pages.TryAllocate() is Hpa page) _taken.Add(page);
        for (int i = 0; i < leave && _taken.Count != 0; i++)
        {
            kernel.Pages.Free(_taken[^1]);
            _taken.RemoveAt(_taken.Count - 1);
        }
    }

    public void Dispose()
    {
        foreach (var p in _taken) _kernel.Pages.Free(p);
        _taken.Clear();
    }
}
