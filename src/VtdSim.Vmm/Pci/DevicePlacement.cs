using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;

namespace VtdSim.Vmm.Pci;

/// <summary>
/// Where an emulated `-device` goes on bus 0, with QEMU 7.2's checks and messages (decision E19): an `addr=` that is
/// taken, a non-zero function in a slot whose function 0 is single-function, a function 0 that is single-function in
/// a slot with other functions, no free slot, a bus that is not the root bus. Without `addr=` the device takes the
/// first slot whose function 0 is free, as QEMU's automatic devfn does.
/// </summary>
internal static class DevicePlacement
{
    public static IEmulatedPciDevice Place(PcMachine machine, List<PciFunctionModel> functions, Dictionary<int, string> ids, DeviceOptions options)
    {
        string model = options.Model;
        string rootBus = machine.Options.Type == MachineType.Q35 ? "pcie.0" : "pci.0";
        if (options.Bus is { } bus && bus != rootBus) throw Refused(options, $"Bus '{bus}' not found");
        int devFn;
        if (options.DevFn is int wanted)
        {
            if (functions.Find(f => f.DevFn == wanted) is { } taken)
                throw Refused(options, $"PCI: slot {wanted >> 3} function {wanted & 7} not available for {model}, in use by {taken.Name},id={ids.GetValueOrDefault(taken.DevFn, "(null)")}");
            devFn = wanted;
        }
        else
        {
            int free = Enumerable.Range(0, 32).Select(s => s << 3).FirstOrDefault(d => !functions.Exists(f => f.DevFn == d), -1);
            if (free < 0) throw Refused(options, $"PCI: no slot/function available for {model}, all in use or reserved");
            devFn = free;
        }
        int slot = devFn >> 3, function = devFn & 7;
        if (function != 0)
        {
            if (functions.Find(f => f.DevFn == slot << 3) is { } first && (first.Identity.HeaderType & 0x80) == 0)
                throw Refused(options, $"PCI: single function device can't be populated in function {slot:x}.{function:x}");
        }
        else if (functions.Find(f => f.DevFn >> 3 == slot && (f.DevFn & 7) != 0) is { } other)
        {
            throw Refused(options, $"PCI: {slot:x}.0 indicates single function, but {slot:x}.{other.DevFn & 7:x} is already populated.");
        }
        IEmulatedPciDevice device = model switch
        {
            "edu" => new Edu(machine.Memory, devFn, options.DmaMask),
            _ => new IommuTestDevice(machine.Memory, devFn),
        };
        if (options.Id is { } id) ids[devFn] = id;
        functions.Add(device.Function);
        return device;
    }

    private static ArgumentException Refused(DeviceOptions options, string message) => new($"{options.Location}: {message}");
}
