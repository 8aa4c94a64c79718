using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Pci;
using VtdSim.Vmm.Tests.Support;

namespace VtdSim.Vmm.Tests.Pci;

/// <summary>
/// Configuration space through 0xcf8/0xcfc and MMCONFIG, compared with what Debian's QEMU 7.2.22 answers (the hex
/// strings are its answers over qtest `outl 0xcf8`/`inl 0xcfc`, decisions E1–E5).
/// </summary>
public class ConfigSpaceTests
{
    private static PcMachine Q35() => PcMachine.Create(new MachineOptions { Type = MachineType.Q35, RamSize = 256UL << 20 });

    private static PcMachine Pc() => PcMachine.Create(new MachineOptions { Type = MachineType.Pc, RamSize = 256UL << 20 });

    // QEMU 7.2.22 `-M q35` / `-M pc` at reset: dwords 0x00-0x3c of each function.
    public static TheoryData<string, int, string> Headers => new()
    {
        { "q35", 0x00, "29c08086 00000000 06000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 00000000" },
        { "q35", 0x08, "11111234 00000000 03000002 00000000 00000008 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 00000000" },
        { "q35", 0x10, "10d38086 00100000 02000000 00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00008086 00000000 000000c8 00000000 00000100" },
        { "q35", 0xf8, "29188086 00000000 06010002 00800000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 00000000" },
        { "q35", 0xfa, "29228086 00100000 01060102 00800000 00000000 00000000 00000000 00000000 00000001 00000000 00000000 11001af4 00000000 00000080 00000000 00000100" },
        { "q35", 0xfb, "29308086 00000000 0c050002 00800000 00000000 00000000 00000000 00000000 00000001 00000000 00000000 11001af4 00000000 00000000 00000000 00000100" },
        { "pc", 0x00, "12378086 00000000 06000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 00000000" },
        { "pc", 0x08, "70008086 02000000 06010000 00800000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 00000000" },
        { "pc", 0x09, "70108086 02800000 01018000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000 11001af4 00000000 00000000 00000000 00000000" },
        { "pc", 0x0b, "71138086 02800000 06800003 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 00000100" },
        { "pc", 0x10, "11111234 00000000 03000002 00000000 00000008 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 00000000" },
        { "pc", 0x18, "100e8086 00000000 02000003 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 00000100" },
    };

    // The same dwords after writing all ones to each (then restoring it): the sizing answers and the writable bits.
    public static TheoryData<string, int, string> AllOnes => new()
    {
        { "q35", 0x00, "29c08086 00000507 06000000 000000ff 00000000 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 000000ff" },
        { "q35", 0x08, "11111234 00000507 03000002 000000ff ff000008 00000000 fffff000 00000000 00000000 00000000 00000000 11001af4 ffff0001 00000000 00000000 000000ff" },
        { "q35", 0x10, "10d38086 00100507 02000000 000000ff fffe0000 fffe0000 ffffffe1 ffffc000 00000000 00000000 00000000 00008086 fffc0001 000000c8 00000000 000001ff" },
        { "q35", 0xf8, "29188086 00000507 06010002 008000ff 00000000 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 000000ff" },
        { "q35", 0xfa, "29228086 00100507 01060102 008000ff 00000000 00000000 00000000 00000000 ffffffe1 fffff000 00000000 11001af4 00000000 00000080 00000000 000001ff" },
        { "q35", 0xfb, "29308086 00000507 0c050002 008000ff 00000000 00000000 00000000 00000000 ffffffc1 00000000 00000000 11001af4 00000000 00000000 00000000 000001ff" },
        { "pc", 0x00, "12378086 00000507 06000002 000000ff 00000000 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 000000ff" },
        { "pc", 0x08, "70008086 02000507 06010000 008000ff 00000000 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 000000ff" },
        { "pc", 0x09, "70108086 02800507 01018000 000000ff 00000000 00000000 00000000 00000000 fffffff1 00000000 00000000 11001af4 00000000 00000000 00000000 000000ff" },
        { "pc", 0x0b, "71138086 02800507 06800003 000000ff 00000000 00000000 00000000 00000000 00000000 00000000 00000000 11001af4 00000000 00000000 00000000 000001ff" },
        { "pc", 0x10, "11111234 00000507 03000002 000000ff ff000008 00000000 fffff000 00000000 00000000 00000000 00000000 11001af4 ffff0001 00000000 00000000 000000ff" },
        { "pc", 0x18, "100e8086 00000507 02000003 000000ff fffe0000 ffffffc1 00000000 00000000 00000000 00000000 00000000 11001af4 fffc0001 00000000 00000000 000001ff" },
    };

    private static PcMachine Make(string type) => type == "q35" ? Q35() : Pc();

    private static string Dump(PcMachine m, int devFn) => string.Join(' ', Enumerable.Range(0, 16).Select(i => $"{m.Cfg(devFn, i * 4):x8}"));

    [Theory]
    [MemberData(nameof(Headers))]
    public void TheHeaderOfEveryFunctionReadsAsQemu72(string type, int devFn, string expected) =>
        Assert.Equal(expected, Dump(Make(type), devFn));

    [Theory]
    [MemberData(nameof(AllOnes))]
    public void WritingAllOnesReadsBackTheSizeMasksAndOnlyTheWritableBits(string type, int devFn, string expected)
    {
        PcMachine m = Make(type);
        var seen = new List<string>();
        for (int r = 0; r < 0x40; r += 4)
        {
            uint old = m.Cfg(devFn, r);
            m.SetCfg(devFn, r, 0xffffffff);
            seen.Add($"{m.Cfg(devFn, r):x8}");
            m.SetCfg(devFn, r, old);
            Assert.Equal(old, m.Cfg(devFn, r));
        }
        Assert.Equal(expected, string.Join(' ', seen));
    }

    [Fact]
    public void TheAddressPortTakesOnlyDwordWritesAndReadsBackItsLowBytesAtAnyOffset()
    {
        PcMachine m = Q35();
        m.Out(0xcf8, 4, 0x80001800);
        Assert.Equal(0x80001800UL, m.In(0xcf8, 4));
        Assert.Equal(0x1800UL, m.In(0xcf8, 2));
        Assert.Equal(0x00UL, m.In(0xcf8, 1));
        Assert.Equal(0x1800UL, m.In(0xcfa, 2)); // not shifted: QEMU answers with the register's low bytes
        m.Out(0xcf8, 1, 0x12);
        m.Out(0xcf8, 2, 0x1234);
        Assert.Equal(0x80001800UL, m.In(0xcf8, 4));
        m.Out(0xcf8, 4, 0x81000000); // bits 30:24 are kept but do not matter
        Assert.Equal(0x81000000UL, m.In(0xcf8, 4));
        Assert.Equal(0x29c08086UL, m.In(0xcfc, 4));
    }

    [Fact]
    public void TheDataPortDecodesBytesWordsAndUnalignedAccessesAsQemu()
    {
        PcMachine m = Q35(); // 00:02.0 is the e1000e, 8086:10d3
        m.Out(0xcf8, 4, ConfigCycles.Address(0x10, 0));
        Assert.Equal([0x86UL, 0x80, 0xd3, 0x10], Enumerable.Range(0, 4).Select(i => m.In((ushort)(0xcfc + i), 1)));
        Assert.Equal(0x8086UL, m.In(0xcfc, 2));
        Assert.Equal(0x10d3UL, m.In(0xcfe, 2));
        Assert.Equal(0xd380UL, m.In(0xcfd, 2));
        Assert.Equal(0xff10d380UL, m.In(0xcfd, 4)); // the byte past 0xcff is no port: all ones
        m.Out(0xcf8, 4, ConfigCycles.Address(0x10, 0) | 3); // CONFIG_ADDRESS's low bits select the register too
        Assert.Equal(0x10000010UL, m.In(0xcfc, 4)); // bytes 3-6: device id high, command, status low
    }

    [Fact]
    public void AbsentFunctionsOtherBusesAndDisabledCyclesReadAllOnesAndDropWrites()
    {
        PcMachine m = Q35();
        Assert.Equal(uint.MaxValue, m.Cfg(0x11, 0));          // 00:02.1: no such function
        Assert.Equal(uint.MaxValue, m.Cfg(0x00, 0, bus: 1));  // no bus 1
        Assert.Equal(0xffffu, m.Cfg(0x50, 2, size: 2));
        m.Out(0xcf8, 4, 0x00000000);                           // enable bit clear
        Assert.Equal(uint.MaxValue, (uint)m.In(0xcfc, 4));
        Assert.Equal(0xffUL, m.In(0xcfd, 1));
        m.Out(0xcfc, 4, 0x6);                                  // dropped: MCH command stays 0
        Assert.Equal(0u, m.Cfg(0, 4));
    }

    [Fact]
    public void SubDwordWritesChangeOnlyTheirBytesAndStatusIsReadOnly()
    {
        PcMachine m = Q35();
        m.SetCfg(0x10, 0x04, 0x06, size: 1);
        Assert.Equal(0x00100006u, m.Cfg(0x10, 4));
        m.SetCfg(0x10, 0x05, 0xff, size: 1);
        Assert.Equal(0x00100506u, m.Cfg(0x10, 4));
        m.SetCfg(0x10, 0x06, 0xffff, size: 2);
        Assert.Equal(0x00100506u, m.Cfg(0x10, 4));
    }

    [Fact]
    public void MmconfigAppearsWherePciexbarPutsItWithQemusMasks()
    {
        PcMachine m = Q35();
        Assert.Equal(0xb0000000u, m.Cfg(0, PciHost.PciexbarOffset)); // reset value, disabled
        Assert.Null(m.Bus.MmconfigBase);
        Assert.Equal(0UL, m.Mmio(0xb0000000, 4));                     // nothing there yet: unassigned

        // (PCIEXBAR, where bus 0 device 0 then answers) as QEMU 7.2.22 answered them.
        (uint Low, uint High, ulong Base, ulong Size)[] cases =
        [
            (0xb0000001, 0, 0xb0000000, 256UL << 20),
            (0xb4000001, 0, 0xb0000000, 256UL << 20),   // 256 MiB: bits 35:28 only
            (0xb8000003, 0, 0xb0000000, 128UL << 20),   // 128 MiB: bit 27 is not part of the base in QEMU 7.2 ...
            (0xc6000003, 0, 0xc6000000, 128UL << 20),   // ... but bits 26:25 are
            (0xc4000005, 0, 0xc0000000, 64UL << 20),    // 64 MiB: bit 26 ignored, bit 25 kept
            (0xc2000005, 0, 0xc2000000, 64UL << 20),
            (0xb0000001, 8, 0x8_b000_0000, 256UL << 20), // bits 35:32
            (0xb0000001, 0x10, 0xb0000000, 256UL << 20), // bit 36 is not decoded
        ];
        foreach ((uint low, uint high, ulong at, ulong size) in cases)
        {
            m.SetCfg(0, PciHost.PciexbarOffset + 4, high);
            m.SetCfg(0, PciHost.PciexbarOffset, low);
            Assert.Equal(at, m.Bus.MmconfigBase);
            Assert.Equal(size, m.Bus.MmconfigSize);
            Assert.Equal(0x29c08086UL, m.Mmio(at, 4));
        }
        m.SetCfg(0, PciHost.PciexbarOffset + 4, 0);
        m.SetCfg(0, PciHost.PciexbarOffset, 0xb0000007); // length 3 is reserved: nothing is mapped
        Assert.Null(m.Bus.MmconfigBase);
        m.SetCfg(0, PciHost.PciexbarOffset, 0xe0000000); // enable bit clear
        Assert.Null(m.Bus.MmconfigBase);
        Assert.Equal(0UL, m.Mmio(0xe0000000, 4));
    }

    [Fact]
    public void MmconfigReachesTheExtendedSpaceOfExpressFunctionsOnly()
    {
        PcMachine m = Q35();
        m.SetCfg(0, PciHost.PciexbarOffset, 0xb0000001);
        const ulong Mcfg = 0xb0000000;
        Assert.Equal(0x0010000010d38086UL, m.Mmio(Mcfg + (0x10 << 12), 8));  // two dwords: id, then command/status
        Assert.Equal(0x14020001UL, m.Mmio(Mcfg + (0x10 << 12) + 0x100, 4));  // e1000e: AER, next at 0x140
        Assert.Equal(0x00010003UL, m.Mmio(Mcfg + (0x10 << 12) + 0x140, 4));  // then the serial number capability
        Assert.Equal(0xffffffffUL, m.Mmio(Mcfg + 0x100, 4));                  // the MCH is a 256-byte function
        Assert.Equal(0x80UL, m.Mmio(Mcfg + 1, 1));
        Assert.Equal(0x29c0UL, m.Mmio(Mcfg + 2, 2));
        Assert.Equal(0xffffffffUL, m.Mmio(Mcfg + (0x19 << 12), 4));           // no function
        Assert.Equal(0xffffffffUL, m.Mmio(Mcfg + (1 << 20), 4));              // no bus 1
        m.SetMmio(Mcfg + (0x10 << 12) + 4, 2, 0x6);
        Assert.Equal(0x00100006u, m.Cfg(0x10, 4));
    }

    [Fact]
    public void FirmwareProgramsMmconfigAndTheBarsThroughConfigurationSpace()
    {
        PcMachine m = PcMachine.Create(new MachineOptions { Type = MachineType.Q35, RamSize = 4UL << 30, ExtraNics = 1, IntelIommu = true, Booted = true });
        Assert.Equal(0xb0000001u, m.Cfg(0, PciHost.PciexbarOffset));
        // `info pci` of QEMU 7.2 after SeaBIOS (Captures/q35-4g-booted.info-pci.txt): BAR registers and what decodes.
        Assert.Equal(0xfd000008u, m.Cfg(0x08, 0x10));
        Assert.Equal(0xfebd8000u, m.Cfg(0x08, 0x18));
        Assert.Equal(0xfeb40000u, m.Cfg(0x10, 0x10));
        Assert.Equal(0xfeb80000u, m.Cfg(0x18, 0x10));
        Assert.Equal(0xfebd9000u, m.Cfg(0xfa, 0x24));
        Bar vgaRom = m.Functions.Single(f => f.Name == "VGA").Bars.Single(b => b.Space == BarSpace.Rom);
        Assert.Null(vgaRom.Address); // "BAR6: 32 bit memory at 0xffffffffffffffff": programmed, not enabled
        Assert.Equal(0u, m.Cfg(0x08, 0x30) & 1);
        Assert.True(m.Functions.Single(f => f.DevFn == 0x10).BusMasterEnabled);
        Assert.False(m.Functions.Single(f => f.DevFn == 0x08).BusMasterEnabled);
    }

    // After SeaBIOS on QEMU 7.2.22 (`-M q35 -m 2G`, `-M pc -m 2G`): command, BAR0-5 and the ROM BAR of each function.
    // The I/O BARs SeaBIOS programs (0xc041, 0xc061, 0x701 …) are left out: the model's firmware does not place them (V18).
    public static TheoryData<string, int, string> BootedRegisters => new()
    {
        { "q35", 0x00, "00000103 00000000 00000000 00000000 00000000 00000000 00000000 00000000" },
        { "q35", 0x08, "00000103 fd000008 00000000 febd4000 00000000 00000000 00000000 febc0000" },
        { "q35", 0x10, "00100107 feb80000 feba0000 - febd0000 00000000 00000000 feb40000" },
        { "q35", 0xf8, "00000103 00000000 00000000 00000000 00000000 00000000 00000000 00000000" },
        { "q35", 0xfa, "00100107 00000000 00000000 00000000 00000000 - febd5000 00000000" },
        { "q35", 0xfb, "00000103 00000000 00000000 00000000 00000000 - 00000000 00000000" },
        { "pc", 0x00, "00000103 00000000 00000000 00000000 00000000 00000000 00000000 00000000" },
        { "pc", 0x08, "02000103 00000000 00000000 00000000 00000000 00000000 00000000 00000000" },
        { "pc", 0x09, "02800103 00000000 00000000 00000000 00000000 - 00000000 00000000" },
        { "pc", 0x0b, "02800103 00000000 00000000 00000000 00000000 00000000 00000000 00000000" },
        { "pc", 0x10, "00000103 fd000008 00000000 febf0000 00000000 00000000 00000000 febe0000" },
        { "pc", 0x18, "00000107 febc0000 - 00000000 00000000 00000000 00000000 feb80000" },
    };

    [Theory]
    [MemberData(nameof(BootedRegisters))]
    public void AfterTheFirmwareCommandAndBarsReadAsAfterSeaBios(string type, int devFn, string expected)
    {
        PcMachine m = PcMachine.Create(new MachineOptions { Type = type == "q35" ? MachineType.Q35 : MachineType.Pc, RamSize = 2UL << 30, Booted = true });
        string[] want = expected.Split(' ');
        int[] registers = [0x04, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x30];
        for (int i = 0; i < registers.Length; i++)
            if (want[i] != "-") Assert.Equal($"{registers[i]:x2}:{want[i]}", $"{registers[i]:x2}:{m.Cfg(devFn, registers[i]):x8}");
    }

    [Fact]
    public void PamRegistersSetTheSegmentsAndShowTheirModes()
    {
        foreach ((MachineType type, int pam) in new[] { (MachineType.Q35, 0x90), (MachineType.Pc, 0x59) })
        {
            PcMachine m = PcMachine.Create(new MachineOptions { Type = type, RamSize = 256UL << 20 });
            Assert.Equal(pam, m.Bus.PamOffset);
            m.SetCfg(0, pam + 1, 0x31, size: 1); // 0xc0000: RE; 0xc4000: RE|WE
            Assert.Equal(PamMode.ReadOnly, m.Pam[0].Mode);
            Assert.Equal(PamMode.ReadWrite, m.Pam[1].Mode);
            Assert.True(m.SystemMemory.Find(0xc0000)!.Value.ReadOnly);
            Assert.Equal(0x31u, m.Cfg(0, pam + 1, size: 1));
            m.SetCfg(0, pam, 0x30, size: 1);      // 0xf0000-0xfffff: RAM
            Assert.Equal(PamMode.ReadWrite, m.Pam[PcMachine.PamSegments - 1].Mode);
            m.Pam[2].SetMode(PamMode.WriteOnly);  // however set, the register shows the segment
            Assert.Equal(0x02u, m.Cfg(0, pam + 2, size: 1));
        }
        // SeaBIOS's final PAM values as QEMU 7.2.22 reads them back: 10 11 11 11 11 11 33.
        PcMachine booted = PcMachine.Create(new MachineOptions { Type = MachineType.Q35, RamSize = 2UL << 30, Booted = true });
        Assert.Equal(0x11111110u, booted.Cfg(0, 0x90));
        Assert.Equal(0x00331111u, booted.Cfg(0, 0x94) & 0x00ffffff);
    }

    [Fact]
    public void TheBusApiRefusesOddSizesAndForeignBarsWithoutChangingAnything()
    {
        PcMachine m = Q35();
        Assert.Equal(uint.MaxValue, m.Bus.ReadConfig(0, 0, 0, 3));
        Assert.Equal(uint.MaxValue, m.Bus.ReadConfig(0, 0, 0, 8));
        m.Bus.WriteConfig(0, 0x10, 4, 8, 0x7);
        m.Bus.WriteConfig(0, 0x10, -4, 4, 0x7);
        m.Bus.WriteConfig(0, 0x10, 0x1000, 4, 0x7);
        Assert.Equal(0x00100000u, m.Cfg(0x10, 4));
        Bar foreign = Q35().Functions.Single(f => f.Name == "VGA").Bars[0];
        Assert.Throws<ArgumentException>(() => m.Bus.ProgramBar(foreign, 0xe0000000));
        Assert.Null(m.Functions.Single(f => f.Name == "VGA").Bars[0].Address);
    }

    [Fact]
    public void ThePortsAreRegionsOfTheIoAddressSpaceAsQemuNamesThem()
    {
        PcMachine m = Pc();
        string tree = MtreePrinter.Tree(m.Memory, false);
        Assert.Contains("0000000000000cf8-0000000000000cfb (prio 0, i/o): pci-conf-idx", tree);
        Assert.Contains("0000000000000cfc-0000000000000cff (prio 0, i/o): pci-conf-data", tree);
    }
}
