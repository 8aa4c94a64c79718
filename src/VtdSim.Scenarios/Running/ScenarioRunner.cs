using System.Globalization;
using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;
using VtdSim.Scenarios.Loading;
using VtdSim.Scenarios.Model;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Nesting;
using VtdSim.Vmm.Vfio;
using VmmProcess = VtdSim.Vmm.Vmm;

namespace VtdSim.Scenarios.Running;

/// <summary>
/// Runs a scenario: builds the host, starts the VMMs and boots their guests through the layers' public APIs, runs the
/// steps in order, collects what happened at every level as events and evaluates every expectation. A configuration
/// the stack refuses (a VMM that does not start) is an event like any other; a step that cannot run (its VMM is not
/// running, its guest has not booted) is an `error` event, and the steps after it are skipped. Deterministic: the same
/// scenario gives the same events.
/// </summary>
public sealed class ScenarioRunner
{
    private readonly Scenario scenario;
    private readonly bool trace;
    private readonly bool record;
    private readonly Dictionary<string, VmmMemoryMap> memoryMaps = new(StringComparer.Ordinal);
    private readonly List<ScenarioEvent> events = [];
    private readonly Dictionary<string, Level> levels = new(StringComparer.Ordinal);
    private readonly List<string> order = [];
    private readonly Dictionary<(string At, ulong Address, int Size), byte[]> endSnapshots = [];
    private PhysicalMachine hostMachine = null!;
    private TracingDmaPort hostPort = null!;
    private int step = -1;

    private ScenarioRunner(Scenario scenario, bool trace, bool record)
    {
        this.scenario = scenario;
        this.trace = trace;
        this.record = record;
    }

    /// <summary>
    /// Runs <paramref name="scenario"/>; with <paramref name="trace"/>, each DMA's walk is recorded reference by reference
    /// as `walk` events: in the host IOMMU, or for an emulated device in its vIOMMU (decision S46). With
    /// <paramref name="record"/> (for `--report`), each `dma` event keeps its host walk (<see cref="ScenarioEvent.Walk"/>)
    /// and the run keeps each VMM's memory map (<see cref="ScenarioRun.MemoryMaps"/>); the events are the same either way.
    /// </summary>
    public static ScenarioRun Run(Scenario scenario, bool trace = false, bool record = false)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        return new ScenarioRunner(scenario, trace, record).Execute();
    }

    /// <summary>A level of the stack: the host, or a VMM with the kernel of its guest.</summary>
    private sealed class Level(string name, VmmSpec? spec, Level? parent)
    {
        public string Name { get; } = name;
        public VmmSpec? Spec { get; } = spec;
        public Level? Parent { get; } = parent;
        public VmmProcess? Vmm { get; set; }
        public LinuxKernel? Kernel { get; set; }
        public int KernelLogSeen { get; set; }
        public int VmmLogSeen { get; set; }
        public int TableWritesSeen { get; set; }
        public long VIommuEventsSeen { get; set; }
        public string Bindings { get; set; } = "";
        /// <summary>QEMU refused the VMM's command line: it never became a process.</summary>
        public bool Refused { get; set; }
        public Dictionary<string, SourceId> Devices { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, Session> Sessions { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>A guest process that drives one device through the guest kernel's iommufd.</summary>
    private sealed record Session(ProcessAddressSpace Process, IommufdContext Fd, uint DevId, uint Ioas);

    private ScenarioRun Execute()
    {
        var outcomes = new List<StepOutcome>();
        var verdicts = new List<Verdict>();
        bool stopped = !BuildHost();
        for (int i = 0; i < scenario.Steps.Count; i++)
        {
            StepSpec s = scenario.Steps[i];
            step = i;
            if (stopped)
            {
                outcomes.Add(new StepOutcome(i, s, StepStatus.Skipped));
                foreach (ExpectSpec e in s.Expect) verdicts.Add(new Verdict(i, e, false, "the step did not run: an earlier step stopped the run"));
                continue;
            }
            TakeEndSnapshots();
            var before = s.Expect.OfType<MemoryExpect>().Where(m => m.Changed is not null).ToDictionary(m => m, m => ReadMemory(m.At, m.Address, m.Size));
            bool ok = RunStep(s);
            Collect();
            if (s is not (DmaStep or HostFileReadStep or InvalidateStep)) RecordMemoryMaps(); // those leave every memory map and IOAS as it was
            outcomes.Add(new StepOutcome(i, s, ok ? StepStatus.Done : StepStatus.Error));
            foreach (ExpectSpec e in s.Expect) verdicts.Add(Evaluate(e, i, events.Where(x => x.Step == i).ToList(), before.GetValueOrDefault(e as MemoryExpect ?? NoMemory)));
            stopped = !ok;
        }
        step = scenario.Steps.Count;
        foreach (ExpectSpec e in scenario.Expect)
            verdicts.Add(Evaluate(e, -1, events, e is MemoryExpect m ? endSnapshots.GetValueOrDefault((m.At, m.Address, m.Size)) : null));
        return new ScenarioRun(scenario, outcomes, events, verdicts) { MemoryMaps = order.Where(memoryMaps.ContainsKey).Select(n => memoryMaps[n]).ToList() };
    }

    /// <summary>
    /// With <see cref="record"/>: each VMM's memory map as it is after a step in which it runs or failed to start (the
    /// last such step wins). Reading the IOAS lists every pinned folio, so steps that change no map do not record again.
    /// </summary>
    private void RecordMemoryMaps()
    {
        if (!record) return;
        foreach (string name in order)
        {
            if (!levels.TryGetValue(name, out Level? level) || level.Vmm is not VmmProcess vmm || level.Spec is null) continue;
            if (vmm.State is VtdSim.Vmm.VmmState.Running or VtdSim.Vmm.VmmState.Failed) memoryMaps[name] = VmmMemoryMap.Capture(name, vmm, level.Spec.ErratumPolicy);
        }
    }

    private static readonly MemoryExpect NoMemory = new("host", 0, 1, null, false, default);

    private void Emit(string level, string kind, string text) => events.Add(new ScenarioEvent(step, level, kind, text));

    private void Emit(ScenarioEvent e) => events.Add(e with { Step = step });

    // ------------------------------------------------------------------ the host

    private bool BuildHost()
    {
        HostSpec h = scenario.Host;
        VtdProfile profile = BuiltInProfiles.Find(h.Profile);
        if (h.Cap is not null || h.Ecap is not null)
        {
            profile = profile with
            {
                Name = profile.Name + " (CAP/ECAP overridden)",
                Cap = h.Cap is ulong cap ? new Capability(cap) : profile.Cap,
                Ecap = h.Ecap is ulong ecap ? new ExtendedCapability(ecap) : profile.Ecap,
            };
            // An inconsistent unit is refused as the profile checker words it; the run is then this one event.
            string? problem = ProfileProblem(profile);
            if (problem is not null)
            {
                Emit("host", "error", problem);
                return false;
            }
        }
        var memory = new PhysicalMemory(h.Memory);
        var unit = new VtdUnit(memory, profile);
        var interrupts = new InterruptController();
        unit.Events.Raised += interrupts.OnUnitEvent;
        hostPort = new TracingDmaPort(unit, interrupts);
        hostMachine = new PhysicalMachine(memory, [new RemappingUnitDescription(unit.RegisterBase)], hostPort, interrupts) { HardwareIommu = unit };
        hostMachine.Map(new VtdUnitMmio(unit));
        var host = new Level("host", null, null);
        foreach (HostDeviceSpec d in h.Devices)
        {
            var rid = new SourceId(d.Bus, d.Device, d.Function);
            hostMachine.AddFunction(new PciFunction(rid, d.Id));
            host.Devices[d.Id] = rid;
        }
        host.Kernel = LinuxKernel.Boot(hostMachine, h.Kernel.CommandLine, null, new IntelIommuOptions { EnforceErratum772415 = h.Kernel.ErratumRule });
        foreach (HostFileSpec f in h.Files)
        {
            // What the host's administrator put in its tmpfs before any VMM starts (S60).
            Errno e = host.Kernel.CreateNamedFile(f.Path, f.Size, out SharedFile? file);
            if (e == Errno.Success && f.Data.Length > 0) e = file!.Write(f.Offset, f.Data);
            if (e != Errno.Success)
            {
                Emit("host", "error", $"the host cannot make the file {f.Path}: {e}");
                return false;
            }
        }
        levels["host"] = host;
        order.Add("host");
        foreach (VmmSpec v in scenario.AllVmms())
        {
            order.Add(v.Name);
        }
        Emit("host", "action", $"host booted: {profile.Name}, {Size(h.Memory)}, \"{h.Kernel.CommandLine}\", erratum rule {(h.Kernel.ErratumRule ? "enforced" : "off (before 6.7)")}");
        foreach (HostFileSpec f in h.Files)
            Emit("host", "action", $"file {f.Path}: {Size(f.Size)}{(f.Data.Length > 0 ? $", {Hex(f.Data, 32)} at 0x{f.Offset:x}" : "")}");
        Collect();
        return true;
    }

    private static string? ProfileProblem(VtdProfile profile)
    {
        try
        {
            profile.Validate();
            return null;
        }
        catch (InvalidOperationException e)
        {
            return e.Message;
        }
    }

    // ------------------------------------------------------------------ steps

    private bool RunStep(StepSpec s)
    {
        switch (s)
        {
            case StartStep x: return Start(x);
            case BootStep x: return Boot(x);
            case KexecStep x: return Kexec(x);
            case QuitStep x: return Quit(x);
            case MapStep x: return Map(x);
            case UnmapStep x: return Unmap(x);
            case FirstStageAtStep x: return FirstStageAt(x);
            case InvalidateStep x: return Invalidate(x);
            case DmaStep x: return Dma(x);
            case HostFileReadStep x: return HostFileRead(x);
            case HwptAllocStep x: return HwptAlloc(x);
            case HotAddStep x: return HotAdd(x);
            case MoveBarStep x: return MoveBar(x);
            case PamStep x: return Pam(x);
            case TableEntryStep x: return TableEntry(x);
            case RegisterWriteStep x: return RegisterWrite(x);
            default: return Error("host", "this step is not known to the runner");
        }
    }

    private bool Error(string level, string message)
    {
        Emit(level, "error", message);
        return false;
    }

    private VmmSpec SpecOf(string name) => scenario.AllVmms().First(v => v.Name == name);

    private Level? ParentOf(VmmSpec spec) => levels.GetValueOrDefault(ParentName(spec));

    /// <summary>The level a VMM runs on: `host`, or the VMM whose guest runs it.</summary>
    private string ParentName(VmmSpec spec) =>
        scenario.Vmms.Contains(spec) ? "host" : scenario.AllVmms().First(v => v.Guest.Vmms.Contains(spec)).Name;

    private bool Start(StartStep x)
    {
        VmmSpec spec = SpecOf(x.Vmm);
        if (levels.TryGetValue(x.Vmm, out Level? existing) && existing.Vmm is not null) return Error(x.Vmm, $"{x.Vmm} was started already");
        Level? parent = ParentOf(spec);
        if (parent?.Kernel is not LinuxKernel kernel) return Error(x.Vmm, $"{x.Vmm} runs in the guest of {parent?.Name ?? "a VMM that is not started"}, whose kernel has not booted");
        var level = new Level(spec.Name, spec, parent);
        levels[spec.Name] = level;
        if (!TryOptions(spec, parent, out VtdSim.Vmm.VmmOptions? options, out string error))
        {
            // What QEMU says about a device it cannot parse, before it starts anything: the VM does not start.
            Emit(spec.Name, "qemu-log", $"{VtdSim.Vmm.VmmLog.Program}: {error}");
            Emit(spec.Name, "vmm", $"{spec.Name}: failed (QEMU refused its command line)");
            level.Refused = true;
            return true;
        }
        VmmProcess vmm = VmmProcess.Start(kernel, options!);
        level.Vmm = vmm;
        Collect();
        string summary = $"{spec.Name}: {vmm.State.ToString().ToLowerInvariant()}";
        if (vmm.Container is { } c)
            summary += $"; default HWPT {(c.HwptId is null ? "none (devices attached to the IOAS)" : Flags(c.HwptFlags))}{(c.BypassRo ? ", bypass_ro (read-only sections not mapped)" : "")}";
        if (vmm.VIommu is not null) summary += $"; vIOMMU {vmm.VIommuProfile()?.Name}";
        Emit(spec.Name, "vmm", summary);
        if (vmm.State == VtdSim.Vmm.VmmState.Running)
        {
            foreach (DeviceSpec d in spec.Devices)
            {
                if (d.Kind == DeviceKind.Passthrough)
                {
                    SourceId below = parent.Devices[d.Id];
                    if (vmm.Devices.FirstOrDefault(p => p.Host == below)?.Guest is SourceId g) level.Devices[d.Id] = g;
                }
                else if (d.Kind is DeviceKind.Edu or DeviceKind.IommuTestdev)
                {
                    string model = d.Kind == DeviceKind.Edu ? "edu" : "iommu-testdev";
                    int nth = spec.Devices.TakeWhile(o => o != d).Count(o => o.Kind == d.Kind);
                    PciFunctionModel? f = vmm.Machine.Functions.Where(m => m.Name == model).Skip(nth).FirstOrDefault();
                    if (f is not null) level.Devices[d.Id] = new SourceId(0, (byte)(f.DevFn >> 3), (byte)(f.DevFn & 7));
                }
            }
        }
        return true;
    }

    private static string Flags(HwptAllocFlags flags)
    {
        var names = new List<string>();
        if ((flags & HwptAllocFlags.NestParent) != 0) names.Add("NEST_PARENT");
        if ((flags & HwptAllocFlags.DirtyTracking) != 0) names.Add("DIRTY_TRACKING");
        return names.Count == 0 ? "(no flags)" : string.Join('|', names);
    }

    private static bool TryOptions(VmmSpec spec, Level parent, out VtdSim.Vmm.VmmOptions? options, out string error)
    {
        options = null;
        ErratumPolicies.TryParse(spec.ErratumPolicy, out ErratumPolicy policy, out error);
        var devices = new List<DeviceOptions>();
        var nvdimms = new List<NvdimmOptions>();
        IntelIommuProperties? iommu = null;
        var version = policy == ErratumPolicy.Qemu72 ? QemuVersion.Qemu72 : QemuVersion.Qemu11;
        foreach (DeviceSpec d in spec.Devices)
        {
            switch (d.Kind)
            {
                case DeviceKind.Edu or DeviceKind.IommuTestdev:
                {
                    string text = (d.Kind == DeviceKind.Edu ? "edu" : "iommu-testdev") + (d.Properties.Length > 0 ? "," + d.Properties : "");
                    if (!DeviceOptions.TryParse(text, out DeviceOptions? device, out string e))
                    {
                        error = $"-device {text}: {e}";
                        return false;
                    }
                    devices.Add(device!);
                    break;
                }
                case DeviceKind.IntelIommu:
                    if (!IntelIommuProperties.TryParse(version, d.Properties, out iommu, out string e2))
                    {
                        error = $"-device intel-iommu{(d.Properties.Length > 0 ? "," + d.Properties : "")}: {e2}";
                        return false;
                    }
                    break;
                case DeviceKind.Nvdimm:
                {
                    string text = "nvdimm" + (d.Properties.Length > 0 ? "," + d.Properties : "");
                    if (!NvdimmOptions.TryParse(text, out NvdimmOptions? nvdimm, out string e3))
                    {
                        error = $"-device {text}: {e3}";
                        return false;
                    }
                    nvdimms.Add(nvdimm!);
                    break;
                }
            }
        }
        var backends = new List<MemoryBackendFile>();
        foreach (ObjectSpec o in spec.Objects)
        {
            if (!MemoryBackendFile.TryParse(o.Text, out MemoryBackendFile? backend, out string e4))
            {
                error = $"-object {o.Text}: {e4}";
                return false;
            }
            backends.Add(backend!);
        }
        options = new VtdSim.Vmm.VmmOptions
        {
            Name = spec.Name,
            Machine = new MachineOptions
            {
                Type = spec.Machine == "pc" ? MachineType.Pc : MachineType.Q35,
                RamSize = spec.Memory,
                Defaults = spec.Defaults,
                Booted = spec.Booted,
                Devices = devices,
            },
            ErratumPolicy = policy,
            RamBackend = spec.RamBackend switch
            {
                "hugetlb-2m" => VtdSim.Vmm.GuestRamBackend.Hugetlb2M,
                "hugetlb-1g" => VtdSim.Vmm.GuestRamBackend.Hugetlb1G,
                "shared-file" => VtdSim.Vmm.GuestRamBackend.SharedFile,
                _ => VtdSim.Vmm.GuestRamBackend.Anonymous,
            },
            Passthrough = spec.Devices.Where(d => d.Kind == DeviceKind.Passthrough).Select(d => parent.Devices.GetValueOrDefault(d.Id)).ToList(),
            MemoryBackends = backends,
            Nvdimms = nvdimms,
        }.WithIntelIommu(iommu);
        foreach (DeviceSpec d in spec.Devices.Where(d => d.Kind == DeviceKind.Passthrough))
        {
            if (!parent.Devices.ContainsKey(d.Id))
            {
                error = $"-device vfio-pci: {parent.Name} has no device '{d.Id}' to pass through (it did not start with it)";
                return false;
            }
        }
        return true;
    }

    private bool Running(string name, out Level level, out VmmProcess vmm)
    {
        level = levels.GetValueOrDefault(name)!;
        vmm = level?.Vmm!;
        if (vmm is null) return Error(name, $"{name} has not been started");
        if (vmm.State != VtdSim.Vmm.VmmState.Running) return Error(name, $"{name} is not running (it is {vmm.State.ToString().ToLowerInvariant()})");
        return true;
    }

    private bool Booted(string name, out Level level, out VmmProcess vmm, out LinuxKernel kernel)
    {
        kernel = null!;
        if (!Running(name, out level, out vmm)) return false;
        if (level.Kernel is null) return Error(name, $"the guest of {name} has not booted");
        kernel = level.Kernel;
        return true;
    }

    private bool Boot(BootStep x)
    {
        if (!Running(x.Vmm, out Level level, out VmmProcess vmm)) return false;
        if (level.Kernel is not null) return Error(x.Vmm, $"the guest of {x.Vmm} has booted already (kexec boots another kernel)");
        return BootKernel(level, vmm, level.Spec!.Guest.Kernel);
    }

    private bool BootKernel(Level level, VmmProcess vmm, KernelSpec kernel)
    {
        KernelMemoryLayout? layout = vmm.GuestKernelLayout();
        if (layout is null) return Error(level.Name, $"the guest of {level.Name} has too little RAM below 4 GiB for the model's kernel");
        level.Kernel = LinuxKernel.Boot(vmm.GuestMachine, kernel.CommandLine, layout, new IntelIommuOptions { EnforceErratum772415 = kernel.ErratumRule });
        level.KernelLogSeen = 0;
        level.Sessions.Clear();
        Emit(level.Name, "action", $"guest kernel booted: \"{kernel.CommandLine}\"{(vmm.VIommu is { } u ? $", vIOMMU in {(u.TableMode == TranslationTableMode.Scalable ? "scalable" : u.TableMode == TranslationTableMode.Legacy ? "legacy" : u.TableMode.ToString().ToLowerInvariant())} mode" : ", no vIOMMU")}");
        return true;
    }

    private bool Kexec(KexecStep x)
    {
        if (!Booted(x.Vmm, out Level level, out VmmProcess vmm, out LinuxKernel old)) return false;
        Collect();
        // The old kernel's last act: intel_iommu_shutdown turns DMA remapping off (GCMD.TE alone; queued invalidation
        // stays on for the next kernel to find and turn off).
        old.Iommu.Shutdown();
        Emit(x.Vmm, "action", "kexec: the old kernel turned DMA remapping off");
        level.Kernel = null;
        return BootKernel(level, vmm, x.Kernel);
    }

    private bool Quit(QuitStep x)
    {
        if (!Running(x.Vmm, out Level level, out VmmProcess vmm)) return false;
        vmm.Quit();
        level.Kernel = null;
        level.Sessions.Clear();
        Emit(x.Vmm, "vmm", $"{x.Vmm}: {vmm.State.ToString().ToLowerInvariant()}");
        return true;
    }

    private void Call(string level, string call, Errno e) =>
        Emit(new ScenarioEvent(step, level, "iommufd", $"{call}: {(e == Errno.Success ? "0" : $"-{(int)e} ({e})")}") { Errno = e == Errno.Success ? "0" : e.ToString() });

    /// <summary>
    /// The device's session in the guest, made on first use. Null: the step cannot run (an error event says why);
    /// false: the guest kernel refused a call (its errno is an event, the step's result); true: ready.
    /// </summary>
    private bool? TrySession(string vmmName, string device, out Session session)
    {
        session = null!;
        if (!Booted(vmmName, out Level level, out _, out LinuxKernel kernel)) return null;
        if (level.Sessions.TryGetValue(device, out Session? s))
        {
            session = s;
            return true;
        }
        if (!level.Devices.TryGetValue(device, out SourceId rid))
        {
            Error(vmmName, $"{vmmName}'s guest has no device '{device}'");
            return null;
        }
        ProcessAddressSpace app = kernel.CreateProcess("app");
        IommufdContext fd = kernel.OpenIommufd(app);
        Errno e = fd.DeviceBind(rid, out uint dev);
        Call(vmmName, $"VFIO_DEVICE_BIND_IOMMUFD {device} ({Rid(rid)})", e);
        if (e != Errno.Success) return false;
        e = fd.IoasAlloc(0, out uint ioas);
        Call(vmmName, "IOMMU_IOAS_ALLOC", e);
        if (e != Errno.Success) return false;
        uint pt = ioas;
        e = fd.DeviceAttach(dev, ref pt);
        Call(vmmName, $"VFIO_DEVICE_ATTACH_IOMMUFD_PT {device} to IOAS {ioas}", e);
        if (e != Errno.Success) return false;
        session = new Session(app, fd, dev, ioas);
        level.Sessions[device] = session;
        return true;
    }

    private static string Rid(SourceId rid) => $"{rid.Bus:x2}:{rid.Device:x2}.{rid.Function:x}";

    private bool Map(MapStep x)
    {
        bool? ready = TrySession(x.Vmm, x.Device, out Session s);
        if (ready != true) return ready is not null; // a refused bind or attach is the step's result
        Errno e = s.Process.Mmap(x.Size, MemoryProtection.ReadWrite, out Uva buffer);
        if (e != Errno.Success) return Error(x.Vmm, $"the guest process cannot mmap 0x{x.Size:x} bytes: {e}");
        ulong iova = x.Iova;
        e = s.Fd.IoasMap(s.Ioas, (x.Writable ? IoasMapFlags.ReadWrite : IoasMapFlags.Readable) | IoasMapFlags.FixedIova, buffer, x.Size, ref iova);
        Call(x.Vmm, $"IOMMU_IOAS_MAP iova 0x{x.Iova:x} length 0x{x.Size:x} {(x.Writable ? "read-write" : "read-only")}", e);
        return true;
    }

    private bool Unmap(UnmapStep x)
    {
        bool? ready = TrySession(x.Vmm, x.Device, out Session s);
        if (ready != true) return ready is not null;
        ulong length = x.Size;
        Errno e = s.Fd.IoasUnmap(s.Ioas, x.Iova, ref length);
        Call(x.Vmm, $"IOMMU_IOAS_UNMAP iova 0x{x.Iova:x} length 0x{x.Size:x}", e);
        return true;
    }

    private bool HwptAlloc(HwptAllocStep x)
    {
        bool? ready = TrySession(x.Vmm, x.Device, out Session s);
        if (ready != true) return ready is not null;
        HwptAllocFlags flags = x.Flags switch
        {
            "nest-parent" => HwptAllocFlags.NestParent,
            "dirty-tracking" => HwptAllocFlags.DirtyTracking,
            _ => 0,
        };
        Errno e = s.Fd.HwptAlloc(s.DevId, s.Ioas, flags, out uint hwpt);
        Call(x.Vmm, $"IOMMU_HWPT_ALLOC for {x.Device} on IOAS {s.Ioas} with flags {(flags == 0 ? "0" : Flags(flags))}{(e == Errno.Success ? $" (HWPT {hwpt})" : "")}", e);
        return true;
    }

    // ------------------------------------------------------------------ what a guest does to its vIOMMU's tables

    /// <summary>The guest's PASID entry 0 of <paramref name="device"/> and where it is, read as the guest's own tables say (RTADDR through MMIO, the tables in guest memory).</summary>
    private bool TryPasidEntry(string name, VmmProcess vmm, SourceId device, out Hpa at, out PasidEntry entry)
    {
        at = default;
        entry = default;
        PhysicalMachine g = vmm.GuestMachine;
        if (!g.HasIommu) return Error(name, $"{name}'s guest has no vIOMMU");
        ulong rtaddr = g.Read(new Hpa(g.IommuBase.Value + RegisterOffset.RTADDR), 8);
        if (((rtaddr >> 10) & 3) != 1) return Error(name, $"{name}'s guest does not use scalable mode: there is no PASID entry to change");
        MachineMemory m = g.Memory;
        Hpa rootSlot = new Hpa(rtaddr & ~0xFFFUL) + (ulong)device.Bus * RootEntry.Size;
        if (!TryReadGuest(name, m, rootSlot, 2, $"the root entry of bus {device.Bus:x2}", out ulong[] r)) return false;
        var root = new RootEntry(r[0], r[1]);
        if (!root.LowerPresent) return Error(name, $"{name}'s guest has no context entry for {Rid(device)}: map something for it first");
        Hpa ctx = root.LowerContextTablePointer + (ulong)device.DevFn * ScalableContextEntry.Size;
        if (!TryReadGuest(name, m, ctx, 4, $"the context entry of {Rid(device)}", out ulong[] c)) return false;
        var context = new ScalableContextEntry(c[0], c[1], c[2], c[3]);
        if (!context.Present) return Error(name, $"{name}'s guest has no context entry for {Rid(device)}: map something for it first");
        if (!TryReadGuest(name, m, context.PasidDirectoryPointer, 1, $"the PASID directory entry of {Rid(device)}", out ulong[] d)) return false;
        var dir = new PasidDirectoryEntry(d[0]);
        if (!dir.Present) return Error(name, $"{name}'s guest has no PASID table for {Rid(device)}");
        at = dir.PasidTablePointer;
        if (!TryReadGuest(name, m, at, 8, $"the PASID entry of {Rid(device)}", out ulong[] p)) return false;
        entry = new PasidEntry(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
        if (!entry.Present) return Error(name, $"{name}'s guest's PASID entry 0 of {Rid(device)} is not present");
        return true;
    }

    /// <summary>
    /// <paramref name="count"/> 64-bit words of the guest's memory at <paramref name="at"/>, where its tables say
    /// <paramref name="what"/> is; an address its own (or a garbage) pointer put outside its memory is an error event.
    /// </summary>
    private bool TryReadGuest(string name, MachineMemory memory, Hpa at, int count, string what, out ulong[] words)
    {
        words = new ulong[count];
        for (int i = 0; i < count; i++)
            if (!memory.TryRead64(at + (ulong)i * 8, out words[i])) return Error(name, $"{what} would be at GPA 0x{at.Value:x}, which the guest cannot read");
        return true;
    }

    private bool FirstStageAt(FirstStageAtStep x)
    {
        if (!Booted(x.Vmm, out Level level, out VmmProcess vmm, out _)) return false;
        if (!level.Devices.TryGetValue(x.Device, out SourceId rid)) return Error(x.Vmm, $"{x.Vmm}'s guest has no device '{x.Device}'");
        if (!TryPasidEntry(x.Vmm, vmm, rid, out Hpa at, out PasidEntry entry)) return false;
        if (entry.Pgtt != PasidGranularTranslationType.FirstStageOnly) return Error(x.Vmm, $"the PASID entry of {x.Device} does not translate with a first stage (PGTT {entry.Pgtt})");
        var table = new byte[4096];
        if (!vmm.GuestMachine.Memory.TryRead(new Hpa(entry.FirstStagePageTablePointer), table)) return Error(x.Vmm, "the guest cannot read its first-stage table");
        // A copy without the Accessed bits the guest's own walks set: the walk that follows sets them again.
        for (int i = 0; i < table.Length; i += 8)
        {
            var e = new FirstStageEntry(BitConverter.ToUInt64(table, i));
            if (e.Present) BitConverter.TryWriteBytes(table.AsSpan(i), e.WithAccessed(false).Raw);
        }
        // Within 0xc0000–0xfffff the guest opens the PAM segment for writing (as SeaBIOS shadows a ROM) and restores it.
        PamSegment? pam = vmm.Machine.Pam.FirstOrDefault(p => x.Gpa >= p.Start && x.Gpa < p.Start + p.Size);
        if (pam is null && vmm.Resolve(new Gpa(x.Gpa)) is { IsRam: true, ReadOnly: true }) return FirstStageOnReadOnlyPage(x, vmm, at, entry, table);
        PamMode mode = pam?.Mode ?? PamMode.ReadWrite;
        if (pam is not null && !vmm.TrySetPam(pam.Index, PamMode.ReadWrite, out string error)) return Error(x.Vmm, error);
        bool written = vmm.GuestMachine.Memory.TryWrite(new Hpa(x.Gpa), table);
        if (pam is not null && !vmm.TrySetPam(pam.Index, mode, out string error2)) return Error(x.Vmm, error2);
        if (!written) return Error(x.Vmm, $"the guest cannot write GPA 0x{x.Gpa:x} (read-only or not RAM)");
        if (!vmm.GuestMachine.Memory.TryWrite64(at + 16, entry.WithFirstStagePointer(x.Gpa).Q2)) return Error(x.Vmm, $"the guest cannot write its PASID entry at GPA 0x{at.Value:x}");
        Emit(x.Vmm, "action", $"the first-stage root table of {x.Device} is now at GPA 0x{x.Gpa:x}{(pam is not null ? $" (PAM segment {pam.Index} opened for writing and set back to {PamText(mode)})" : "")}; {(vmm.Resolve(new Gpa(x.Gpa)).ReadOnly ? "read-only" : "writable")} guest memory");
        return !x.Invalidate || Submit(x.Vmm, vmm, entry.DomainId);
    }

    /// <summary>
    /// `first-stage-at` onto read-only memory the guest has no way to open (a read-only file, S63): the guest cannot write
    /// its table there, but it can read the page and use it as its root table as it is. For every present entry of its
    /// current root table, the page's entry at the same index must be present and lead to a page the guest can write; the
    /// guest copies its own next-level table there (what a malicious guest that knows the file's bytes does), then points
    /// the PASID entry at the page. The run stops with an error if the page's bytes do not allow it.
    /// </summary>
    private bool FirstStageOnReadOnlyPage(FirstStageAtStep x, VmmProcess vmm, Hpa pasidEntry, PasidEntry entry, byte[] table)
    {
        MachineMemory memory = vmm.GuestMachine.Memory;
        var page = new byte[4096];
        if (!memory.TryRead(new Hpa(x.Gpa), page)) return Error(x.Vmm, $"the guest cannot read GPA 0x{x.Gpa:x}");
        var links = new List<string>();
        var next = new byte[4096];
        for (int i = 0; i < table.Length; i += 8)
        {
            var own = new FirstStageEntry(BitConverter.ToUInt64(table, i));
            if (!own.Present) continue;
            var there = new FirstStageEntry(BitConverter.ToUInt64(page, i));
            ulong target = there.Address;
            if (!there.Present || !memory.TryRead(new Hpa(own.Address), next) || !memory.TryWrite(new Hpa(target), next))
                return Error(x.Vmm, $"the guest cannot write GPA 0x{x.Gpa:x} (read-only), and the page's entry {i / 8} (0x{there.Raw:x16}) does not lead to memory it can write: the page cannot be its root table");
            links.Add($"entry {i / 8} 0x{there.Raw:x} leads to GPA 0x{target:x}, where the guest copied its next-level table");
        }
        if (!memory.TryWrite64(pasidEntry + 16, entry.WithFirstStagePointer(x.Gpa).Q2)) return Error(x.Vmm, $"the guest cannot write its PASID entry at GPA 0x{pasidEntry.Value:x}");
        Emit(x.Vmm, "action", $"the first-stage root table of {x.Device} is now the read-only page at GPA 0x{x.Gpa:x}, as it is ({string.Join("; ", links)}); read-only guest memory");
        return !x.Invalidate || Submit(x.Vmm, vmm, entry.DomainId);
    }

    private static string PamText(PamMode mode) => mode switch
    {
        PamMode.ReadOnly => "read-only",
        PamMode.WriteOnly => "write-only",
        PamMode.ReadWrite => "read-write",
        _ => "PCI (off)",
    };

    private bool Invalidate(InvalidateStep x)
    {
        if (!Booted(x.Vmm, out Level level, out VmmProcess vmm, out _)) return false;
        if (!level.Devices.TryGetValue(x.Device, out SourceId rid)) return Error(x.Vmm, $"{x.Vmm}'s guest has no device '{x.Device}'");
        if (!TryPasidEntry(x.Vmm, vmm, rid, out _, out PasidEntry entry)) return false;
        return Submit(x.Vmm, vmm, entry.DomainId);
    }

    /// <summary>
    /// The guest queues a PASID-cache and a PASID-IOTLB invalidation of the domain on its vIOMMU (stores into its queue,
    /// then IQT). A queue its IQA puts outside its memory is an error event.
    /// </summary>
    private bool Submit(string name, VmmProcess vmm, ushort domain)
    {
        PhysicalMachine g = vmm.GuestMachine;
        ulong baseAddress = g.IommuBase.Value;
        ulong iqa = g.Read(new Hpa(baseAddress + RegisterOffset.IQA), 8);
        int size = (iqa & (1UL << 11)) != 0 ? 32 : 16;
        ulong entries = (4096UL << (int)(iqa & 7)) / (ulong)size;
        ulong tail = g.Read(new Hpa(baseAddress + RegisterOffset.IQT), 8) / (ulong)size;
        foreach (InvalidationDescriptor d in new[] { InvalidationDescriptor.PasidCachePasid(domain, 0), InvalidationDescriptor.PasidIotlbAll(domain, 0) })
        {
            var slot = new Hpa((iqa & ~0xFFFUL) + tail * (ulong)size);
            bool written = g.Memory.TryWrite64(slot, d.Q0) && g.Memory.TryWrite64(slot + 8, d.Q1)
                && (size != 32 || (g.Memory.TryWrite64(slot + 16, 0) && g.Memory.TryWrite64(slot + 24, 0)));
            if (!written) return Error(name, $"the guest cannot write its invalidation queue at GPA 0x{slot.Value:x}");
            tail = (tail + 1) % entries;
        }
        g.Write(new Hpa(baseAddress + RegisterOffset.IQT), 8, tail * (ulong)size);
        Emit(name, "action", $"PASID-cache and PASID-IOTLB invalidation of domain {domain}, PASID 0");
        return true;
    }

    // ------------------------------------------------------------------ DMA and host actions

    private bool Dma(DmaStep x)
    {
        IDmaPort port;
        SourceId rid;
        VtdUnit? viommu = null; // traced or recorded: an emulated device's walk in its guest's vIOMMU
        PhysicalMachine? guest = null;
        if (x.At == "host")
        {
            port = hostMachine.Dma;
            rid = levels["host"].Devices[x.Device];
        }
        else
        {
            if (!Running(x.At, out Level level, out VmmProcess vmm)) return false;
            if (!level.Devices.TryGetValue(x.Device, out rid)) return Error(x.At, $"{x.At}'s guest has no device '{x.Device}'");
            port = vmm.GuestMachine.Dma;
            SourceId id = rid;
            if ((trace || record) && vmm.VIommu is { } unit && !vmm.Devices.Any(d => d.Guest == id))
            {
                viommu = unit;
                guest = vmm.GuestMachine;
            }
        }
        var walk = trace || record ? new WalkTrace() : null;
        var viommuWalk = viommu is not null ? new WalkTrace() : null;
        hostPort.Trace = walk;
        var request = new DmaRequest(rid, new Iova(x.Address), x.Write ? DmaAccess.Write : DmaAccess.Read);
        var buffer = x.Write ? x.Data : new byte[x.Size];
        DmaTransferResult r;
        try
        {
            if (viommu is not null)
            {
                // What the guest machine's port does for an emulated function (the vIOMMU translates, then the guest's
                // pending interrupts are delivered), with the walk recorded.
                r = x.Write ? viommu.DmaWrite(request, buffer, viommuWalk) : viommu.DmaRead(request, buffer, viommuWalk);
                guest!.Interrupts.DeliverPending();
            }
            else
                r = x.Write ? port.Write(request, buffer) : port.Read(request, buffer);
        }
        finally
        {
            hostPort.Trace = null;
        }
        string what = $"{x.Device} ({Rid(rid)}) DMA {(x.Write ? "write" : "read")} 0x{x.Size:x} bytes at 0x{x.Address:x}";
        // For a report: the host IOMMU's walk, or an emulated device's walk in its vIOMMU, over the guest's memory (V62).
        DmaWalk? kept = !record || walk is null ? null
            : viommuWalk is not null ? DmaWalk.Capture($"{x.At}: {what}", rid, x.Address, x.Write, x.Size, guest!.Memory, viommuWalk, r.Fault, r.Completed) with { Viommu = x.At }
            : DmaWalk.Capture($"{x.At}: {what}", rid, x.Address, x.Write, x.Size, hostMachine.Memory, walk, r.Fault, r.Completed);
        if (r.Completed)
            Emit(new ScenarioEvent(step, x.At, "dma", $"{what}: completed{(x.Write ? "" : $", read {Hex(buffer, 16)}")}") { Completed = true, Walk = kept });
        else if (r.Fault is { } f)
        {
            Emit(new ScenarioEvent(step, x.At, "dma", $"{what}: stopped after 0x{r.BytesTransferred:x} bytes by a fault") { Completed = false, Walk = kept });
            string where = FaultLevel(x.At, x.Device);
            Emit(new ScenarioEvent(step, where, "fault", $"fault 0x{f.Code:x2} {f.Condition} for {Rid(f.Request.Source)} at 0x{f.FaultAddress.Value:x}: {f.Explanation}") { FaultCode = f.Code, FaultCondition = f.Condition });
        }
        else
            Emit(new ScenarioEvent(step, x.At, "dma", $"{what}: not done after 0x{r.BytesTransferred:x} bytes: {r.MemoryError}") { Completed = false, Walk = kept });
        if (viommuWalk is not null && trace)
            foreach (MemoryReference m in viommuWalk.References)
                Emit(Walk(m, x.At, x.At));
        if (walk is not null && trace)
        {
            string? owner = GuestOnHost(x.At);
            foreach (MemoryReference m in walk.References)
                Emit(Walk(m, "host", owner));
        }
        return true;
    }

    /// <summary>
    /// Whose IOMMU translated (and faulted) a DMA of <paramref name="device"/> at <paramref name="at"/>: a passthrough
    /// device's request goes to the level below with the same id, down to the host's IOMMU; an emulated device's is
    /// translated by its VMM's vIOMMU. (Not by requester id: a guest's bus may give a function the id it has below.)
    /// </summary>
    private string FaultLevel(string at, string device)
    {
        while (at != "host")
        {
            VmmSpec spec = SpecOf(at);
            if (spec.Devices.FirstOrDefault(d => d.Id == device)?.Kind != DeviceKind.Passthrough) return at;
            at = ParentName(spec);
        }
        return at;
    }

    /// <summary>The VMM on the host through which a DMA at <paramref name="at"/> reaches the host IOMMU: whose guest's first stage a nested host walk reads.</summary>
    private string? GuestOnHost(string at)
    {
        if (at == "host") return null;
        VmmSpec spec = SpecOf(at);
        while (ParentName(spec) is var parent && parent != "host") spec = SpecOf(parent);
        return spec.Name;
    }

    /// <summary>
    /// One reference of a walk as a `walk` event, labelled by the level whose table it is: in the host IOMMU
    /// (<paramref name="unit"/> `host`) the root, context and PASID entries and the second stage are the host's, and a
    /// nested walk's first-stage entries (those with a GPA) are the guest's of <paramref name="guest"/>; in a vIOMMU
    /// (<paramref name="unit"/> a VMM's name) every entry is that VMM's guest's, at a guest-physical address.
    /// </summary>
    private ScenarioEvent Walk(MemoryReference r, string unit, string? guest)
    {
        bool host = unit == "host";
        bool guestTable = !host || (r.Stage == TraceStage.FirstStage && r.Gpa is not null);
        string level = guestTable ? guest ?? unit : "host";
        string owner = host ? (guestTable ? $"{level}'s " : "host ") : "";
        string forTable = r.ForFirstStageLevel == 0 ? "" : $" (for {(guest is null ? "the" : $"{guest}'s")} first-stage L{r.ForFirstStageLevel} table)";
        (string stage, string what) = r.Stage switch
        {
            TraceStage.RootTable => ("root", "root entry"),
            TraceStage.ContextTable => ("context", "context entry"),
            TraceStage.PasidDirectory => ("pasid-directory", "PASID directory entry"),
            TraceStage.PasidTable => ("pasid", "PASID entry"),
            TraceStage.FirstStage => ("first-stage", $"first-stage L{r.Level} entry"),
            TraceStage.SecondStage => ("second-stage", $"second-stage L{r.Level} entry{forTable}"),
            _ => (r.Stage.ToString().ToLowerInvariant(), r.Stage.ToString()),
        };
        (string access, string kind) = r.Kind switch
        {
            ReferenceKind.Read => ("read", "read"),
            ReferenceKind.FlagUpdate => ("a/d", $"A/D update -> 0x{r.NewValue:x16}"),
            ReferenceKind.ErratumFlagUpdate => ("a/d-erratum", $"A/D update in read-only memory (erratum) -> 0x{r.NewValue:x16}"),
            _ => (r.Kind.ToString().ToLowerInvariant(), r.Kind.ToString()),
        };
        string where = host ? $"HPA 0x{r.Address.Value:x}{(r.Gpa is { } g ? $" (GPA 0x{g.Value:x})" : "")}" : $"GPA 0x{r.Address.Value:x}";
        string text = $"{(host ? "host IOMMU" : $"{unit}'s vIOMMU")}: {kind} {owner}{what} at {where}: 0x{r.Value:x16}";
        return new ScenarioEvent(step, level, "walk", text)
        {
            WalkUnit = host ? "host" : "viommu",
            WalkStage = stage,
            WalkAccess = access,
            WalkEntryLevel = r.Level,
            WalkForFirstStageLevel = r.ForFirstStageLevel,
            WalkValue = r.Value,
        };
    }

    // ------------------------------------------------------------------ host actions and fault injection

    /// <summary>A change the VMM or the guest's hardware refused: the message, as a `refused` event; the run goes on (the refusal is the result).</summary>
    private bool Refused(string level, string what, string error)
    {
        Emit(level, "refused", $"{what}: {error}");
        return true;
    }

    private bool HotAdd(HotAddStep x)
    {
        if (!Running(x.Vmm, out _, out VmmProcess vmm)) return false;
        string what = $"memory hot-add '{x.Id}' (0x{x.Size:x} bytes at GPA 0x{x.Gpa:x})";
        if (!vmm.TryHotAddMemory(x.Id, new Gpa(x.Gpa), x.Size, out string error)) return Refused(x.Vmm, what, error);
        Emit(x.Vmm, "action", $"{what}: RAM '{x.Id}' is in the memory map");
        return true;
    }

    private bool MoveBar(MoveBarStep x)
    {
        if (!Running(x.Vmm, out Level level, out VmmProcess vmm)) return false;
        if (!level.Devices.TryGetValue(x.Device, out SourceId rid)) return Error(x.Vmm, $"{x.Vmm}'s guest has no device '{x.Device}'");
        string what = x.Address is ulong a ? $"{x.Device}'s BAR to 0x{a:x}" : $"{x.Device}'s BAR out of the memory map";
        int passthrough = vmm.Devices.ToList().FindIndex(d => d.Guest == rid);
        bool placed;
        string error;
        if (passthrough >= 0)
        {
            placed = vmm.TryPlacePassthroughBar(passthrough, x.Address, out error);
        }
        else
        {
            PciFunctionModel? f = vmm.Machine.Functions.FirstOrDefault(m => m.DevFn == rid.DevFn);
            Bar? bar = f?.Bars.FirstOrDefault(b => b.Region is not null && b.Space is BarSpace.Memory or BarSpace.Prefetchable);
            if (bar is null) return Refused(x.Vmm, what, $"{x.Device} has no memory BAR");
            placed = vmm.TryPlaceBar(bar, x.Address, out error);
        }
        if (!placed) return Refused(x.Vmm, what, error);
        Emit(x.Vmm, "action", x.Address is null ? $"{x.Device}'s BAR is out of the memory map" : $"{x.Device}'s BAR is at 0x{x.Address:x}");
        return true;
    }

    private bool Pam(PamStep x)
    {
        if (!Running(x.Vmm, out _, out VmmProcess vmm)) return false;
        PamMode mode = x.Mode switch
        {
            "read-only" => PamMode.ReadOnly,
            "write-only" => PamMode.WriteOnly,
            "read-write" => PamMode.ReadWrite,
            _ => PamMode.Pci,
        };
        if (!vmm.TrySetPam(x.Segment, mode, out string error)) return Refused(x.Vmm, $"PAM segment {x.Segment} to {x.Mode}", error);
        PamSegment segment = vmm.Machine.Pam[x.Segment];
        Emit(x.Vmm, "action", $"PAM segment {x.Segment} (0x{segment.Start:x}-0x{segment.Start + segment.Size - 1:x}) is {PamText(mode)}");
        return true;
    }

    /// <summary>
    /// The guest's own walk of its first-stage tables for the device's PASID entry 0 down to the entry at the step's
    /// level, then a guest CPU store of the changed entry (and the invalidation its driver would send).
    /// </summary>
    private bool TableEntry(TableEntryStep x)
    {
        if (!Booted(x.Vmm, out Level level, out VmmProcess vmm, out _)) return false;
        if (!level.Devices.TryGetValue(x.Device, out SourceId rid)) return Error(x.Vmm, $"{x.Vmm}'s guest has no device '{x.Device}'");
        if (!TryPasidEntry(x.Vmm, vmm, rid, out _, out PasidEntry entry)) return false;
        if (entry.Pgtt != PasidGranularTranslationType.FirstStageOnly) return Error(x.Vmm, $"the PASID entry of {x.Device} does not translate with a first stage (PGTT {entry.Pgtt})");
        int top = entry.FirstStagePagingMode == 1 ? 5 : 4;
        if (x.Level > top) return Error(x.Vmm, $"{x.Device}'s first stage has {top} levels; there is no L{x.Level} entry");
        MachineMemory memory = vmm.GuestMachine.Memory;
        ulong table = entry.FirstStagePageTablePointer;
        for (int l = top; ; l--)
        {
            var slot = new Hpa(table + ((x.Iova >> (12 + 9 * (l - 1))) & 0x1FF) * 8);
            if (!memory.TryRead64(slot, out ulong raw))
                return Error(x.Vmm, $"{x.Device}'s first-stage L{l} entry for IOVA 0x{x.Iova:x} would be at GPA 0x{slot.Value:x}, which the guest cannot read");
            var e = new FirstStageEntry(raw);
            if (l == x.Level)
            {
                ulong changed = (e.Raw | x.Set) & ~x.Clear;
                if (!memory.TryWrite64(slot, changed)) return Error(x.Vmm, $"the guest cannot write GPA 0x{slot.Value:x}");
                Emit(x.Vmm, "action", $"the guest changed {x.Device}'s first-stage L{l} entry for IOVA 0x{x.Iova:x} at GPA 0x{slot.Value:x}: 0x{e.Raw:x16} -> 0x{changed:x16}");
                break;
            }
            if (!e.Present || (l <= 3 && e.PageSize))
                return Error(x.Vmm, $"{x.Device}'s first stage has no L{l - 1} table for IOVA 0x{x.Iova:x} (the L{l} entry at GPA 0x{slot.Value:x} is {(e.Present ? "a large page" : "not present")}): map it first");
            table = e.Address;
        }
        return !x.Invalidate || Submit(x.Vmm, vmm, entry.DomainId);
    }

    private bool RegisterWrite(RegisterWriteStep x)
    {
        if (!Running(x.Vmm, out _, out VmmProcess vmm)) return false;
        PhysicalMachine g = vmm.GuestMachine;
        if (!g.HasIommu) return Error(x.Vmm, $"{x.Vmm}'s guest has no vIOMMU");
        g.Write(new Hpa(g.IommuBase.Value + x.Offset), x.Size, x.Value);
        Emit(x.Vmm, "action", $"the guest wrote 0x{x.Value:x} ({x.Size} bytes) to its vIOMMU's register page at offset 0x{x.Offset:x}");
        return true;
    }

    private bool HostFileRead(HostFileReadStep x)
    {
        if (x.Path is { } path) return HostPathRead(x, path);
        if (!levels.TryGetValue(x.Vmm, out Level? level) || level.Vmm is null) return Error(x.Vmm, $"{x.Vmm} has not been started");
        if (level.Vmm.RamFile is not SharedFile file) return Error(x.Vmm, $"{x.Vmm}'s guest RAM is not a file (ram-backend: shared-file)");
        if (level.Parent?.Kernel is not LinuxKernel kernel) return Error(x.Vmm, $"the kernel below {x.Vmm} is not running");
        ulong page = x.Offset & ~0xFFFUL, within = x.Offset & 0xFFF;
        if (within + (ulong)x.Size > 4096) return Error(x.Vmm, "the read must stay within one page of the file");
        ProcessAddressSpace reader = kernel.CreateProcess("reader");
        Errno e = reader.MmapShared(file, page, 4096, MemoryProtection.Read, out Uva va);
        var bytes = new byte[x.Size];
        if (e == Errno.Success) e = reader.Read(va + within, bytes);
        reader.Exit();
        if (e != Errno.Success) return Error(level.Parent.Name, $"the reader process cannot map or read the file at 0x{x.Offset:x}: {e}");
        Emit(level.Parent.Name, "file-read", $"another process of {level.Parent.Name} reads {x.Vmm}'s RAM file '{file.Name}' at 0x{x.Offset:x}: {Hex(bytes, 4096)}");
        return true;
    }

    /// <summary>`host-file-read: {path}`: a new process of the host maps a file of its tmpfs read-only and reads it (S60).</summary>
    private bool HostPathRead(HostFileReadStep x, string path)
    {
        LinuxKernel kernel = levels["host"].Kernel!;
        if (kernel.OpenFile(path, out SharedFile? file) != Errno.Success) return Error("host", $"there is no file {path}");
        ulong page = x.Offset & ~0xFFFUL, within = x.Offset & 0xFFF;
        if (within + (ulong)x.Size > 4096) return Error("host", "the read must stay within one page of the file");
        ProcessAddressSpace reader = kernel.CreateProcess("reader");
        Errno e = reader.MmapShared(file!, page, 4096, MemoryProtection.Read, out Uva va);
        var bytes = new byte[x.Size];
        if (e == Errno.Success) e = reader.Read(va + within, bytes);
        reader.Exit();
        if (e != Errno.Success) return Error("host", $"the reader process cannot map or read {path} at 0x{x.Offset:x}: {e}");
        Emit("host", "file-read", $"a process of the host reads {path} at 0x{x.Offset:x}: {Hex(bytes, 4096)}");
        return true;
    }

    // ------------------------------------------------------------------ collecting

    /// <summary>Appends what every level printed and reported since the last time, level by level in the scenario's order.</summary>
    private void Collect()
    {
        foreach (string name in order)
        {
            if (!levels.TryGetValue(name, out Level? level)) continue;
            if (level.Kernel is LinuxKernel k)
            {
                for (; level.KernelLogSeen < k.Log.Lines.Count; level.KernelLogSeen++)
                    Emit(name, "kernel-log", k.Log.Lines[level.KernelLogSeen]);
            }
            if (level.Vmm is VmmProcess vmm)
            {
                for (; level.VmmLogSeen < vmm.Log.Lines.Count; level.VmmLogSeen++)
                    Emit(name, "qemu-log", vmm.Log.Lines[level.VmmLogSeen]);
                for (; level.TableWritesSeen < vmm.GuestTableWrites.Count; level.TableWritesSeen++)
                {
                    GuestTableWrite w = vmm.GuestTableWrites[level.TableWritesSeen];
                    Emit(new ScenarioEvent(step, name, "guest-table-write", w.ToString()) { Gpa = w.EntryGpa.Value });
                }
                if (vmm.VIommu is VtdUnit viommu)
                {
                    // What the vIOMMU reported about its registers and its invalidation queue (a guest's bad store, a bad descriptor).
                    foreach (VtdEvent e in viommu.Events.Events)
                    {
                        if (e.Sequence <= level.VIommuEventsSeen) continue;
                        level.VIommuEventsSeen = e.Sequence;
                        if (e is RegisterWarningEvent w) Emit(name, "viommu", $"register warning{(w.Offset >= 0 ? $" at offset 0x{w.Offset:x}" : "")}: {w.Message}");
                        else if (e is InvalidationQueueErrorEvent q) Emit(name, "viommu", $"invalidation queue error at head 0x{q.Head:x}: {q.Message}");
                    }
                }
                string bindings = Bindings(vmm);
                if (bindings != level.Bindings)
                {
                    level.Bindings = bindings;
                    if (bindings.Length > 0) Emit(name, "binding", bindings);
                }
            }
        }
    }

    private static string Bindings(VmmProcess vmm)
    {
        var parts = new List<string>();
        foreach (NestingBinding b in vmm.NestingBindings)
        {
            string how = b.Attachment switch
            {
                NestingAttachment.FirstStage => $"nested: the guest's first stage at GPA 0x{b.CachedEntry?.FirstStagePageTablePointer ?? 0:x} over the nest parent",
                NestingAttachment.PassThrough => "nested: pass-through, on the nest parent",
                NestingAttachment.DefaultHwpt => "on the nest parent (GPA = IOVA)",
                _ => "blocked",
            };
            parts.Add($"{b.Device.Name} {how}");
        }
        foreach (ShadowBinding s in vmm.ShadowBindings)
        {
            if (!s.Active)
            {
                if (vmm.NestingBindings.Any(b => b.Device == s.Device)) continue; // nested: the shadow is not in use
                parts.Add($"{s.Device.Name} on the default HWPT (not shadowed)");
                continue;
            }
            string maps = string.Join(", ", s.Mappings.OrderBy(m => m.Iova).Select(m => $"0x{m.Iova:x}->GPA 0x{m.Gpa.Value:x}{(m.ReadOnly ? " ro" : "")}"));
            parts.Add($"{s.Device.Name} shadowed: {(maps.Length == 0 ? "nothing mapped" : maps)}");
        }
        return string.Join("; ", parts);
    }

    // ------------------------------------------------------------------ memory and verdicts

    private byte[]? ReadMemory(string at, ulong address, int size)
    {
        var bytes = new byte[size];
        if (at == "host")
            return hostMachine is not null && address <= hostMachine.Memory.Size - (ulong)size && hostMachine.Memory.TryRead(new Hpa(address), bytes) ? bytes : null;
        if (levels.GetValueOrDefault(at)?.Vmm is not VmmProcess vmm || vmm.State != VtdSim.Vmm.VmmState.Running) return null;
        return vmm.TryReadGuest(new Gpa(address), bytes) ? bytes : null;
    }

    /// <summary>For the scenario's own changed/unchanged expectations: the bytes the first time the address can be read.</summary>
    private void TakeEndSnapshots()
    {
        foreach (MemoryExpect m in scenario.Expect.OfType<MemoryExpect>())
        {
            if (m.Changed is null || endSnapshots.ContainsKey((m.At, m.Address, m.Size))) continue;
            if (ReadMemory(m.At, m.Address, m.Size) is { } bytes) endSnapshots[(m.At, m.Address, m.Size)] = bytes;
        }
    }

    private Verdict Evaluate(ExpectSpec e, int index, IReadOnlyList<ScenarioEvent> seen, byte[]? before)
    {
        (bool pass, string reason) = e switch
        {
            VmStateExpect v => VmState(v),
            ErrnoExpect x => ErrnoVerdict(x, seen),
            FaultExpect f => FaultVerdict(f, seen),
            DmaCompletedExpect => DmaVerdict(seen),
            LogExpect l => LogVerdict(l, seen),
            MemoryExpect m => MemoryVerdict(m, before),
            GuestTableWriteExpect g => TableWriteVerdict(g, seen),
            EventExpect ev => EventVerdict(ev, seen),
            _ => (false, "unknown expectation"),
        };
        return new Verdict(index, e, pass, reason);
    }

    private (bool, string) VmState(VmStateExpect v)
    {
        Level? level = levels.GetValueOrDefault(v.Vmm);
        string state = level?.Vmm is VmmProcess vmm ? vmm.State.ToString().ToLowerInvariant() : level?.Refused == true ? "failed" : "not started";
        return (state == v.State, $"{v.Vmm} is {state}");
    }

    private static (bool, string) ErrnoVerdict(ErrnoExpect x, IReadOnlyList<ScenarioEvent> seen)
    {
        var failed = seen.Where(e => e.Kind == "iommufd" && e.Errno is not null and not "0").ToList();
        if (x.Errno == "none") return failed.Count == 0 ? (true, "every call returned 0") : (false, $"{failed[0].Text}");
        ScenarioEvent? hit = failed.FirstOrDefault(e => e.Errno == x.Errno);
        if (hit is not null) return (true, hit.Text);
        return (false, failed.Count == 0 ? "every call returned 0" : $"the calls failed otherwise: {string.Join("; ", failed.Select(f => f.Text))}");
    }

    private static (bool, string) FaultVerdict(FaultExpect f, IReadOnlyList<ScenarioEvent> seen)
    {
        var faults = seen.Where(e => e.Kind == "fault" && (f.At is null || e.Level == f.At)).ToList();
        if (f.Reason == "none") return faults.Count == 0 ? (true, "no DMA faulted") : (false, faults[0].Text);
        FaultReasonInfo? want = f.Reason == "any" ? null : ScenarioLoader.FindReason(f.Reason);
        ScenarioEvent? hit = faults.FirstOrDefault(e => want is null || e.FaultCode == want.Code);
        if (hit is not null) return (true, hit.Text);
        var dmas = seen.Where(e => e.Kind == "dma").ToList();
        return (false, faults.Count > 0 ? $"the faults were otherwise: {string.Join("; ", faults.Select(x => x.Text))}" : dmas.Count > 0 ? $"no fault: {dmas[^1].Text}" : "no DMA ran");
    }

    private static (bool, string) DmaVerdict(IReadOnlyList<ScenarioEvent> seen)
    {
        var dmas = seen.Where(e => e.Kind == "dma").ToList();
        if (dmas.Count == 0) return (false, "no DMA ran");
        ScenarioEvent? bad = dmas.FirstOrDefault(d => d.Completed != true);
        return bad is null ? (true, dmas[^1].Text) : (false, bad.Text + (seen.FirstOrDefault(e => e.Kind == "fault") is { } f ? $" ({f.Text})" : ""));
    }

    private static (bool, string) LogVerdict(LogExpect l, IReadOnlyList<ScenarioEvent> seen)
    {
        string kind = l.From == "qemu" ? "qemu-log" : "kernel-log";
        ScenarioEvent? hit = seen.FirstOrDefault(e => e.Kind == kind && e.Level == l.At && (l.Exact ? e.Text == l.Text : e.Text.Contains(l.Text, StringComparison.Ordinal)));
        if (l.Absent) return hit is null ? (true, "no such line") : (false, $"printed: {hit.Text}");
        if (hit is not null) return (true, $"printed: {hit.Text}");
        var lines = seen.Where(e => e.Kind == kind && e.Level == l.At).ToList();
        return (false, lines.Count == 0 ? "nothing was printed there" : $"not among the {lines.Count} line(s) printed; the last: {lines[^1].Text}");
    }

    private (bool, string) MemoryVerdict(MemoryExpect m, byte[]? before)
    {
        byte[]? now = ReadMemory(m.At, m.Address, m.Size);
        if (now is null) return (false, $"{m.At} 0x{m.Address:x} cannot be read{(m.At == "host" ? "" : " (the VMM is not running, or it is not RAM)")}");
        string nowText = Hex(now, 32);
        if (m.EqualBytes is { } want) return (want.AsSpan().SequenceEqual(now), $"the bytes are {nowText}");
        if (before is null) return (false, "there was nothing to compare with: the address could not be read before");
        bool changed = !before.AsSpan().SequenceEqual(now);
        return (changed == m.Changed, changed ? $"{Hex(before, 32)} became {Hex(now, 32)}" : $"still {Hex(now, 32)}");
    }

    private static (bool, string) TableWriteVerdict(GuestTableWriteExpect g, IReadOnlyList<ScenarioEvent> seen)
    {
        var writes = seen.Where(e => e.Kind == "guest-table-write" && e.Level == g.Vmm && (g.Gpa is null || e.Gpa == g.Gpa)).ToList();
        bool pass = g.Count is int c ? writes.Count == c : writes.Count > 0;
        return (pass, writes.Count == 0 ? "no such write" : $"{writes.Count} write(s); {writes[0].Text}");
    }

    private static (bool, string) EventVerdict(EventExpect ev, IReadOnlyList<ScenarioEvent> seen)
    {
        ScenarioEvent? hit = seen.FirstOrDefault(e => (ev.At is null || e.Level == ev.At) && (ev.EventKind is null || e.Kind == ev.EventKind) && e.Text.Contains(ev.Text, StringComparison.Ordinal));
        if (ev.Absent) return hit is null ? (true, "no such event") : (false, $"{hit.Level} {hit.Kind}: {hit.Text}");
        return hit is null ? (false, "no such event") : (true, $"{hit.Level} {hit.Kind}: {hit.Text}");
    }

    private static string Hex(byte[] bytes, int max) => Convert.ToHexString(bytes, 0, Math.Min(bytes.Length, max)).ToLowerInvariant() + (bytes.Length > max ? "…" : "");

    private static string Size(ulong bytes) =>
        bytes % (1UL << 30) == 0 ? $"{bytes >> 30} GiB" : bytes % (1UL << 20) == 0 ? $"{bytes >> 20} MiB" : string.Create(CultureInfo.InvariantCulture, $"0x{bytes:x} bytes");
}
