using VtdSim.Hardware.Addressing;

namespace VtdSim.Machine;

/// <summary>What a CPU access that the machine offers to its <see cref="IMmioRouter"/> became.</summary>
public enum MmioOutcome
{
    /// <summary>The address is memory: the machine accesses its memory (which refuses what is not RAM).</summary>
    Memory,

    /// <summary>A device (or the bus's unassigned handling) took the access.</summary>
    Device,

    /// <summary>A device claimed the address and refused the access.</summary>
    Refused,
}

/// <summary>
/// A machine's device dispatch taken from elsewhere: a router for the whole physical address space, asked first on
/// every CPU load and store (a guest machine's is its VMM's flat view of the "memory" address space, whose I/O
/// sections reach the emulated devices' registers). It claims only addresses that the machine's memory does not hold
/// as RAM, so copies into and out of RAM never need it. Called once per access: it must not allocate.
/// </summary>
public interface IMmioRouter
{
    /// <summary>A CPU load of 1, 2, 4 or 8 bytes at <paramref name="address"/>.</summary>
    MmioOutcome Read(Hpa address, int size, out ulong value);

    /// <summary>A CPU store of 1, 2, 4 or 8 bytes at <paramref name="address"/>.</summary>
    MmioOutcome Write(Hpa address, int size, ulong value);
}
