namespace VtdSim.Vmm.Pci;

/// <summary>
/// The read-only identity of a PCI function's configuration header as QEMU 7.2 gives it (read over 0xcf8/0xcfc from
/// Debian's QEMU 7.2.22; decision E2): vendor, device, revision, the 24-bit class code (base class, subclass,
/// programming interface), subsystem ids, header type (bit 7: multi-function), interrupt pin (1 = INTA#, 0 = none),
/// the status register at reset (bit 4: a capability list; bits 10:9: DEVSEL timing) with the first capability's
/// offset, and whether the function is PCI Express (4 KiB of configuration space through MMCONFIG).
/// </summary>
public readonly record struct PciIdentity(
    ushort VendorId,
    ushort DeviceId,
    byte Revision,
    uint ClassCode,
    ushort SubsystemVendorId = 0x1af4,
    ushort SubsystemId = 0x1100,
    byte HeaderType = 0,
    byte InterruptPin = 0,
    ushort Status = 0,
    byte CapabilitiesPointer = 0,
    bool Express = false);
