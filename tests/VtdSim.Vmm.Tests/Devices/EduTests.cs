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
using VtdSim.Vmm.Pci;

namespace VtdSim.Vmm.Tests.Devices;

/// <summary>QEMU 7.2's edu (qemu-facts §7.2; the expected values are Debian QEMU 7.2.22's answers; decisions E11–E16).</summary>
public class EduTests
{
    private const ulong Bar = 0xe000_0000;
    private static readonly SourceId Sid = new(0, 1, 0);

    private sealed class IntxRecorder : IIntxSink
    {
        public readonly List<(SourceId, bool)> Changes = [];

        public void SetIntx(SourceId source, bool asserted) => Changes.Add((source, asserted));
    }

    /// <summary>An edu whose BAR0 is at 0xe0000000 of an address space, connected to <paramref name="machine"/>.</summary>
    private sealed class Rig
    {
        public readonly Edu Edu;
        public readonly AddressSpace Space;
        public readonly PhysicalMachine Machine;
        public readonly IntxRecorder Intx = new();
        public readonly List<string> Output = [];
        public readonly List<string> Errors = [];

        public Rig(PhysicalMachine machine, ulong dmaMask = Edu.DefaultDmaMask, bool busMaster = true)
        {
            Machine = machine;
            var memory = new MemorySystem();
            MemoryRegion root = memory.Container("system", MemorySystem.AddressSpaceSize);
            Edu = new Edu(memory, Sid.DevFn, dmaMask);
            root.AddSubregion(Edu.Function.Bars[0].Region!, Bar);
            Space = memory.AddAddressSpace("memory", root);
            Edu.Function.Config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemory | (busMaster ? PciConfigSpace.CommandBusMaster : 0u));
            Edu.Connect(new EmulatedDeviceContext(machine.Dma, Sid, machine.Clock, Intx, machine.Memory, Errors.Add, Output.Add));
        }

        public ulong Read(ulong offset, int size = 4)
        {
            Assert.True(Space.TryReadDevice(Bar + offset, size, out ulong v));
            return v;
        }

        public void Write(ulong offset, ulong value, int size = 8) => Assert.True(Space.TryWriteDevice(Bar + offset, size, value));

        public void Dma(ulong src, ulong dst, ulong count, ulong cmd)
        {
            Write(Edu.RegDmaSource, src);
            Write(Edu.RegDmaDestination, dst);
            Write(Edu.RegDmaCount, count);
            Write(Edu.RegDmaCommand, cmd);
        }

        public void Wait() => Machine.Clock.Advance(Edu.DmaDelayNanoseconds);
    }

    private static Rig Plain(ulong dmaMask = Edu.DefaultDmaMask, bool busMaster = true) => new(PhysicalMachine.WithoutIommu(256UL << 20), dmaMask, busMaster);

    [Fact]
    public void ItsConfigurationHeaderAndMsiCapabilityReadAsQemu72()
    {
        Rig r = Plain();
        PciConfigSpace c = r.Edu.Function.Config;
        Assert.Equal(0x11e81234u, c.Read(0x00, 4));
        Assert.Equal(0x00ff0010u, c.Read(0x08, 4));
        Assert.Equal(0x11001af4u, c.Read(0x2c, 4));
        Assert.Equal(0x40u, c.Read(0x34, 4));
        Assert.Equal(0x00000100u, c.Read(0x3c, 4));
        Assert.Equal(0x00800005u, c.Read(0x40, 4));
        Assert.Equal(0x0001u << 16, c.WriteMask(0x40, 4));   // only MSI Enable in the message control
        Assert.Equal(0xfffffffcu, c.WriteMask(0x44, 4));
        Assert.Equal(0xfff00000u, c.WriteMask(0x10, 4));     // BAR0: 1 MiB, 32-bit memory
    }

    [Fact]
    public void RegistersAnswerAsQemu72()
    {
        Rig r = Plain();
        Assert.Equal(0x010000edUL, r.Read(Edu.RegId));
        r.Write(Edu.RegLiveness, 0x12345678, 4);
        Assert.Equal(0xedcba987UL, r.Read(Edu.RegLiveness));
        Assert.Equal(0UL, r.Read(Edu.RegId, 1));              // 1- and 2-byte accesses are refused: unassigned, 0
        Assert.Equal(0UL, r.Read(Edu.RegId, 2));
        Assert.Equal(ulong.MaxValue, r.Read(Edu.RegId, 8));   // 8 bytes below 0x80: all ones
        Assert.Equal(0xffffffffUL, r.Read(0x0c));              // no register there
        Assert.Equal(0xffffffffUL, r.Read(0x40000));
        r.Write(Edu.RegDmaSource, 0x1234567890);
        Assert.Equal(0x1234567890UL, r.Read(Edu.RegDmaSource, 8));
        Assert.Equal(0x34567890UL, r.Read(Edu.RegDmaSource, 4));
        Assert.Equal(0xffffffffUL, r.Read(Edu.RegDmaSource + 4, 4)); // the high half is no register
        r.Write(Edu.RegDmaSource + 4, 0xabc, 4);                      // and ignores writes
        Assert.Equal(0x1234567890UL, r.Read(Edu.RegDmaSource, 8));
        r.Write(Edu.RegDmaSource, 0x1000, 4);                         // a 4-byte write sets the whole register
        Assert.Equal(0x1000UL, r.Read(Edu.RegDmaSource, 8));
    }

    [Fact]
    public void FactorialStatusAndInterruptRegisters()
    {
        Rig r = Plain();
        r.Write(Edu.RegFactorial, 5, 4);
        Assert.Equal(120UL, r.Read(Edu.RegFactorial));
        Assert.Equal(0UL, r.Read(Edu.RegStatus));
        r.Write(Edu.RegFactorial, 13, 4);
        Assert.Equal(unchecked((ulong)(uint)(6227020800UL)), r.Read(Edu.RegFactorial)); // 13! wraps at 32 bits
        Assert.Empty(r.Intx.Changes);

        r.Write(Edu.RegStatus, Edu.StatusIrqOnFactorial, 4);
        r.Write(Edu.RegFactorial, 4, 4);
        Assert.Equal(24UL, r.Read(Edu.RegFactorial));
        Assert.Equal(0x80UL, r.Read(Edu.RegStatus));
        Assert.Equal(1UL, r.Read(Edu.RegIrqStatus));
        Assert.Equal([(Sid, true)], r.Intx.Changes);
        Assert.Equal(PciConfigSpace.StatusInterrupt, r.Edu.Function.Config.Status & PciConfigSpace.StatusInterrupt);

        r.Write(Edu.RegIrqRaise, 2, 4);
        Assert.Equal(3UL, r.Read(Edu.RegIrqStatus));
        r.Write(Edu.RegIrqAck, 0xffffffff, 4);
        Assert.Equal(0UL, r.Read(Edu.RegIrqStatus));
        Assert.Equal([(Sid, true), (Sid, false)], r.Intx.Changes);
        r.Write(Edu.RegStatus, 0x55, 4); // bit 7 clear: no interrupt on completion any more; bit 0 is read-only
        Assert.Equal(0UL, r.Read(Edu.RegStatus));
    }

    [Fact]
    public void InterruptDisableHoldsTheLineButTheStatusBitStillShows()
    {
        Rig r = Plain();
        r.Edu.Function.Config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemory | PciConfigSpace.CommandIntxDisable);
        r.Edu.Function.ConfigWritten!(PciConfigSpace.CommandOffset, 2);
        r.Write(Edu.RegIrqRaise, 1, 4);
        Assert.Empty(r.Intx.Changes);
        Assert.Equal(PciConfigSpace.StatusInterrupt, r.Edu.Function.Config.Status & PciConfigSpace.StatusInterrupt);
        r.Edu.Function.Config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemory);
        r.Edu.Function.ConfigWritten!(PciConfigSpace.CommandOffset, 2);
        Assert.Equal([(Sid, true)], r.Intx.Changes);
    }

    [Fact]
    public void TheDmaRuns100MillisecondsLaterAndIgnoresItsRegistersMeanwhile()
    {
        Rig r = Plain();
        r.Machine.Memory.Write(new Hpa(0x1000), [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
        r.Dma(0x1000, Edu.BufferBase, 8, Edu.CommandRun);
        Assert.Equal(1UL, r.Read(Edu.RegDmaCommand, 8));
        r.Write(Edu.RegDmaSource, 0x2000);               // ignored while RUN is set
        Assert.Equal(0x1000UL, r.Read(Edu.RegDmaSource, 8));
        r.Machine.Clock.Advance(Edu.DmaDelayNanoseconds - 1);
        Assert.Equal(1UL, r.Read(Edu.RegDmaCommand, 8));
        Assert.Equal(0, r.Edu.Buffer[0]);
        r.Machine.Clock.Advance(1);
        Assert.Equal(0UL, r.Read(Edu.RegDmaCommand, 8));
        Assert.Equal([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11], r.Edu.Buffer[..8].ToArray());

        r.Dma(Edu.BufferBase, 0x3000, 8, Edu.CommandRun | Edu.CommandToRam | Edu.CommandIrq);
        r.Wait();
        Assert.Equal(0x1122334455667788UL, r.Machine.Memory.Read64(new Hpa(0x3000)));
        Assert.Equal(0x100UL, r.Read(Edu.RegIrqStatus));
        Assert.Equal(6UL, r.Read(Edu.RegDmaCommand, 8));
        r.Write(Edu.RegDmaCommand, 0x4000);               // without RUN: ignored
        Assert.Equal(6UL, r.Read(Edu.RegDmaCommand, 8));
    }

    [Fact]
    public void AddressesAreClampedToTheDmaMaskWithQemusMessage()
    {
        Rig r = Plain();
        r.Machine.Memory.Write(new Hpa(0x1000), [0xab]);
        r.Dma(0x10001000, Edu.BufferBase, 1, Edu.CommandRun);
        r.Wait();
        Assert.Equal(0xab, r.Edu.Buffer[0]);
        Assert.Equal(["EDU: clamping DMA 0x0000000010001000 to 0x0000000000001000!"], r.Output);

        Rig wide = Plain(dmaMask: ulong.MaxValue);
        wide.Dma(0x10001000, Edu.BufferBase, 1, Edu.CommandRun);
        wide.Wait();
        Assert.Empty(wide.Output);
    }

    [Theory]
    [InlineData(0x40000UL, 0UL, "EDU: DMA range 0x0000000000040000-0x000000000003ffff out of bounds (0x0000000000040000-0x0000000000040fff)!")]
    [InlineData(0x40ff8UL, 8UL, "EDU: DMA range 0x0000000000040ff8-0x0000000000040fff out of bounds (0x0000000000040000-0x0000000000040fff)!")]
    [InlineData(0x3fff0UL, 8UL, "EDU: DMA range 0x000000000003fff0-0x000000000003fff7 out of bounds (0x0000000000040000-0x0000000000040fff)!")]
    public void ABufferRangeOutsideTheBufferIsQemu72sHardwareError(ulong buffer, ulong count, string message)
    {
        Rig r = Plain();
        r.Dma(buffer, 0x2000, count, Edu.CommandRun | Edu.CommandToRam);
        Assert.Empty(r.Errors); // checked when the timer fires, not at the command
        r.Wait();
        Assert.Equal([message], r.Errors);
        Assert.True(r.Edu.Failed);
    }

    [Fact]
    public void TheLargestTransferQemu72AllowsIs4095Bytes()
    {
        Rig r = Plain();
        r.Dma(0x1000, Edu.BufferBase, 4095, Edu.CommandRun);
        r.Wait();
        Assert.Empty(r.Errors);
        Assert.Equal(0UL, r.Read(Edu.RegDmaCommand, 8));
    }

    [Fact]
    public void WithoutBusMasterEnableReadsAreZerosAndWritesAreDropped()
    {
        Rig r = Plain(busMaster: false);
        r.Machine.Memory.Write(new Hpa(0x1000), [1, 2, 3, 4]);
        r.Dma(0x1000, Edu.BufferBase, 4, Edu.CommandRun);
        r.Wait();
        Assert.Equal([0, 0, 0, 0], r.Edu.Buffer[..4].ToArray());
        r.Machine.Memory.Write(new Hpa(0x2000), [9, 9, 9, 9]);
        r.Dma(Edu.BufferBase, 0x2000, 4, Edu.CommandRun | Edu.CommandToRam);
        r.Wait();
        Assert.Equal(0x09090909UL, r.Machine.Memory.Read64(new Hpa(0x2000)) & 0xffffffff);
    }

    [Fact]
    public void WithMsiEnabledAnInterruptIsAMessageWriteThroughTheDmaPort()
    {
        Rig r = Plain();
        int delivered = 0;
        Assert.True(r.Machine.Interrupts.TryRegister(0x31, () => delivered++));
        PciConfigSpace c = r.Edu.Function.Config;
        c.Write(Edu.MsiCapability + 4, 4, 0xfee00000);
        c.Write(Edu.MsiCapability + 12, 2, 0x31);
        c.Write(Edu.MsiCapability + 2, 2, 1);
        r.Write(Edu.RegIrqRaise, 1, 4);
        Assert.Equal(1, delivered);
        Assert.Empty(r.Intx.Changes);
    }

    [Fact]
    public void ThroughAHostIommuTheDmaIsTranslatedAndAnUnmappedPageFaultsWhileTheOthersMove()
    {
        PhysicalMachine host = PhysicalMachine.Host(BuiltInProfiles.Qemu72Legacy, 256UL << 20);
        VtdUnit unit = host.HardwareIommu!;
        var frames = new FrameAllocator(host.Memory, new Hpa(0x100_0000), new Hpa(0x200_0000));
        var tables = new RemappingTables(frames, scalable: false);
        var ss = new SecondStageTableBuilder(frames, levels: 3);
        ss.Map(new Gpa(0x10_0000), new Hpa(0x50_0000));              // IOVA 0x100000 -> 0x500000; 0x101000 unmapped
        ss.Map(new Gpa(0x10_2000), new Hpa(0x52_0000));
        tables.SetLegacyContext(Sid, LegacyContextEntry.Create(ss.Root, ss.AddressWidth, 1));
        RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Legacy);
        host.Memory.Write(new Hpa(0x50_0ff8), [1, 1, 1, 1, 1, 1, 1, 1]);
        host.Memory.Write(new Hpa(0x52_0000), [3, 3, 3, 3, 3, 3, 3, 3]);

        var r = new Rig(host);
        r.Dma(0x10_0ff8, Edu.BufferBase, 16, Edu.CommandRun);          // 8 bytes mapped, then 8 in the unmapped page
        r.Wait();
        Assert.Equal([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], r.Edu.Buffer[..16].ToArray()); // the fault reads as zeros
        r.Dma(0x10_1ff8, Edu.BufferBase + 16, 16, Edu.CommandRun);     // 8 bytes unmapped, then the next page: it goes on
        r.Wait();
        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3], r.Edu.Buffer[16..32].ToArray());
        Assert.NotEqual(0u, unit.ReadRegister32(RegisterOffset.FSTS) & 0x2); // a fault is recorded (FSTS.PPF)
        Assert.Equal(0UL, r.Read(Edu.RegDmaCommand, 8));                     // the device ignores the error
    }
}
