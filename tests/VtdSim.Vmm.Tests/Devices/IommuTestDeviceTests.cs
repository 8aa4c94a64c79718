using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Machine;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Tests.Devices;

/// <summary>QEMU's iommu-testdev (a 2026 device, not in QEMU 7.2; qemu-facts §7.1; decision E17).</summary>
public class IommuTestDeviceTests
{
    private static readonly SourceId Sid = new(0, 2, 0);

    private static IommuTestDevice Connected(PhysicalMachine machine)
    {
        var device = new IommuTestDevice(new MemorySystem(), Sid.DevFn);
        device.Connect(new EmulatedDeviceContext(machine.Dma, Sid, machine.Clock, SystemMemory: machine.Memory));
        return device;
    }

    private static uint Read(IommuTestDevice d, int offset)
    {
        Assert.True(d.TryRead((ulong)offset, 4, out ulong v));
        return (uint)v;
    }

    private static void Write(IommuTestDevice d, int offset, uint value) => Assert.True(d.TryWrite((ulong)offset, 4, value));

    private static uint Run(IommuTestDevice d, ulong gva, ulong gpa, uint length)
    {
        Write(d, IommuTestDevice.RegGvaLow, (uint)gva);
        Write(d, IommuTestDevice.RegGvaHigh, (uint)(gva >> 32));
        Write(d, IommuTestDevice.RegGpaLow, (uint)gpa);
        Write(d, IommuTestDevice.RegGpaHigh, (uint)(gpa >> 32));
        Write(d, IommuTestDevice.RegLength, length);
        Write(d, IommuTestDevice.RegDoorbell, 1);
        Assert.Equal(IommuTestDevice.ResultBusy, Read(d, IommuTestDevice.RegResult));
        Assert.Equal(0u, Read(d, IommuTestDevice.RegTrigger));
        return Read(d, IommuTestDevice.RegResult);
    }

    [Fact]
    public void ItsHeaderIsRedHatsTestIdWithA4KibBarAndNoCapabilities()
    {
        var d = new IommuTestDevice(new MemorySystem(), Sid.DevFn);
        Assert.Equal(0x00051b36u, d.Function.Config.Read(0x00, 4));
        Assert.Equal(0x00ff0000u, d.Function.Config.Read(0x08, 4));
        Assert.Equal(0u, d.Function.Config.Read(0x04, 4));     // no capability list
        Assert.Equal(0u, d.Function.Config.Read(0x3c, 4));     // no interrupt pin
        Assert.Equal(0xfffff000u, d.Function.Config.WriteMask(0x10, 4));
        Assert.Equal("iommu-testdev.bar0", d.Function.Bars[0].Region!.Name);
        Assert.Equal(IommuTestDevice.ResultIdle, Read(d, IommuTestDevice.RegResult));
        Assert.Equal(IommuTestDevice.DefaultAttributes, Read(d, IommuTestDevice.RegAttributes));
        Assert.False(d.TryRead(IommuTestDevice.RegResult, 8, out _)); // 32-bit registers only
        Assert.False(d.TryWrite(IommuTestDevice.RegLength, 2, 1));
    }

    [Fact]
    public void WithoutAnIommuThePatternLandsAtGvaAndIsFoundAtTheSameGpa()
    {
        PhysicalMachine m = PhysicalMachine.WithoutIommu(64UL << 20);
        IommuTestDevice d = Connected(m);
        Assert.Equal(0u, Run(d, 0x1ffe, 0x1ffe, 10));              // crosses a page
        var bytes = new byte[10];
        m.Memory.Read(new Hpa(0x1ffe), bytes);
        Assert.Equal([0x78, 0x56, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 0x78, 0x56], bytes);
        Assert.Equal(0u, Read(d, IommuTestDevice.RegTrigger));       // a second trigger: the request was consumed
        Assert.Equal(IommuTestDevice.ErrorNotArmed, Read(d, IommuTestDevice.RegResult));
        Assert.Equal(IommuTestDevice.ErrorMismatch, Run(d, 0x5000, 0x6000, 4));
        Assert.Equal(IommuTestDevice.ErrorReadBack, Run(d, 0x5000, 64UL << 20, 4)); // GPA beyond memory
        Assert.Equal(IommuTestDevice.ErrorTransfer, Run(d, 64UL << 20, 0x5000, 4));  // GVA beyond memory
    }

    [Fact]
    public void LengthAttributesAndTheDoorbellAsTheDeviceDefinesThem()
    {
        IommuTestDevice d = Connected(PhysicalMachine.WithoutIommu(64UL << 20));
        Assert.Equal(IommuTestDevice.ErrorBadLength, Run(d, 0x1000, 0x1000, 0));
        Read(d, IommuTestDevice.RegTrigger);                                         // consumed: not armed any more
        Assert.Equal(IommuTestDevice.ErrorNotArmed, Read(d, IommuTestDevice.RegResult));
        Write(d, IommuTestDevice.RegAttributes, 0b1001);                             // valid, space Secure, secure bit set: consistent
        Assert.Equal(0u, Run(d, 0x1000, 0x1000, 4));
        Write(d, IommuTestDevice.RegAttributes, 0b1011);                             // space Non-secure with the secure bit
        Assert.Equal(IommuTestDevice.ErrorBadAttributes, Run(d, 0x1000, 0x1000, 4));
        Write(d, IommuTestDevice.RegAttributes, 0b0011);                             // not valid: not checked
        Assert.Equal(0u, Run(d, 0x1000, 0x1000, 4));
        Write(d, IommuTestDevice.RegDoorbell, 1);
        Write(d, IommuTestDevice.RegDoorbell, 0);                                    // disarm
        Assert.Equal(IommuTestDevice.ResultIdle, Read(d, IommuTestDevice.RegResult));
        Write(d, IommuTestDevice.RegResult, 0x42);                                   // RESULT is writable
        Assert.Equal(0x42u, Read(d, IommuTestDevice.RegResult));
    }

    [Fact]
    public void ThroughAHostIommuAMappedGvaSucceedsAndAnUnmappedOneFaultsAsATransferError()
    {
        PhysicalMachine host = PhysicalMachine.Host(BuiltInProfiles.Qemu72Legacy, 256UL << 20);
        VtdUnit unit = host.HardwareIommu!;
        var frames = new FrameAllocator(host.Memory, new Hpa(0x100_0000), new Hpa(0x200_0000));
        var tables = new RemappingTables(frames, scalable: false);
        var ss = new SecondStageTableBuilder(frames, levels: 3);
        ss.Map(new Gpa(0x4000_0000), new Hpa(0x70_0000));
        tables.SetLegacyContext(Sid, LegacyContextEntry.Create(ss.Root, ss.AddressWidth, 1));
        RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Legacy);
        IommuTestDevice d = Connected(host);

        Assert.Equal(0u, Run(d, 0x4000_0010, 0x70_0010, 16));
        Assert.Equal(0u, unit.ReadRegister32(RegisterOffset.FSTS) & 0x2);
        Assert.Equal(IommuTestDevice.ErrorTransfer, Run(d, 0x4000_1000, 0x70_0000, 4));
        Assert.NotEqual(0u, unit.ReadRegister32(RegisterOffset.FSTS) & 0x2); // the unit recorded the fault
    }

    [Fact]
    public void AnUnconnectedDeviceAnswersButMovesNothing()
    {
        var d = new IommuTestDevice(new MemorySystem(), Sid.DevFn);
        Assert.Equal(IommuTestDevice.ErrorTransfer, Run(d, 0x1000, 0x1000, 4));
    }
}
