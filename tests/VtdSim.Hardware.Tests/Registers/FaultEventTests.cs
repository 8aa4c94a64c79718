using VtdSim.Hardware.Events;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Tests.Support;

namespace VtdSim.Hardware.Tests.Registers;

/// <summary>
/// The fault event (vtd-facts 1.7; decisions D17): FECTL.IM/IP and the interrupt sent through FEADDR/FEUADDR/FEDATA
/// when a fault becomes pending.
/// </summary>
public class FaultEventTests
{
    private const uint Im = 1u << 31, Ip = 1u << 30;
    private const uint Data = 0x4041;
    private const uint Address = 0xFEE0_1000;

    private static FaultRecordingBench Programmed(bool masked)
    {
        var bench = new FaultRecordingBench();
        bench.Unit.WriteRegister32(RegisterOffset.FEDATA, Data);
        bench.Unit.WriteRegister32(RegisterOffset.FEADDR, Address);
        bench.Unit.WriteRegister32(RegisterOffset.FEUADDR, 0);
        if (!masked) bench.Unit.WriteRegister32(RegisterOffset.FECTL, 0);
        return bench;
    }

    [Fact]
    public void FectlResetsMasked()
    {
        Assert.Equal(Im, new FaultRecordingBench().Fectl);
    }

    [Fact]
    public void FaultWhileMaskedSetsIpAndSendsNothing()
    {
        var bench = Programmed(masked: true);

        bench.Raise(device: 1);

        Assert.Equal(Im | Ip, bench.Fectl);
        Assert.Empty(bench.Interrupts);
    }

    [Fact]
    public void UnmaskingWithIpSetSendsThePendingInterrupt()
    {
        var bench = Programmed(masked: true);
        bench.Raise(device: 1);

        bench.Unit.WriteRegister32(RegisterOffset.FECTL, 0);

        FaultInterruptEvent e = Assert.Single(bench.Interrupts);
        Assert.Equal(Address, e.Address);
        Assert.Equal(Data, e.Data);
        Assert.Equal(0u, bench.Fectl & Ip);
    }

    [Fact]
    public void FaultWhileUnmaskedSendsTheInterruptAtOnce()
    {
        var bench = Programmed(masked: false);
        bench.Unit.WriteRegister32(RegisterOffset.FEUADDR, 0x1);

        bench.Raise(device: 1);

        FaultInterruptEvent e = Assert.Single(bench.Interrupts);
        Assert.Equal(0x1_0000_0000UL | Address, e.Address); // FEUADDR supplies bits 63:32
        Assert.Equal(Data, e.Data);
        Assert.Equal(0u, bench.Fectl);
    }

    [Fact]
    public void FurtherFaultsWhileOneIsPendingSendNoMoreInterrupts()
    {
        var bench = Programmed(masked: false);
        bench.Raise(device: 1);
        bench.Raise(device: 2);
        bench.Raise(device: 3);
        Assert.Single(bench.Interrupts);

        for (int i = 0; i < 3; i++) bench.ClearRecord(i);
        bench.Raise(device: 4); // nothing pending any more: a new event

        Assert.Equal(2, bench.Interrupts.Count);
    }

    [Fact]
    public void ServicingTheFaultsWhileMaskedClearsIpSoUnmaskingSendsNothing()
    {
        var bench = Programmed(masked: true);
        bench.Raise(device: 1);
        Assert.Equal(Im | Ip, bench.Fectl);

        bench.ClearRecord(0);
        Assert.Equal(Im, bench.Fectl);

        bench.Unit.WriteRegister32(RegisterOffset.FECTL, 0);
        Assert.Empty(bench.Interrupts);
    }

    [Fact]
    public void IpStaysWhileAnyStatusIsStillPending()
    {
        var bench = Programmed(masked: true);
        for (int i = 0; i <= 8; i++) bench.Raise(device: i); // 8 records full, the ninth overflows: PFO
        for (int i = 0; i < 8; i++) bench.ClearRecord(i);
        Assert.Equal(Im | Ip, bench.Fectl); // PFO still set

        bench.Unit.WriteRegister32(RegisterOffset.FSTS, FaultAssert.FstsPfo);
        Assert.Equal(Im, bench.Fectl);
    }

    [Fact]
    public void FeaddrIgnoresItsReservedLowBits()
    {
        var bench = new FaultRecordingBench();
        bench.Unit.WriteRegister32(RegisterOffset.FEADDR, 0xFEE0_1003);

        Assert.Equal(0xFEE0_1000u, bench.Unit.ReadRegister32(RegisterOffset.FEADDR));
    }

    [Fact]
    public void OnlyImIsWritableInFectl()
    {
        var bench = new FaultRecordingBench();
        bench.Unit.WriteRegister32(RegisterOffset.FECTL, Ip); // IP is read-only; IM written as 0

        Assert.Equal(0u, bench.Fectl);
    }

    [Fact]
    public void TheFaultIsLoggedBeforeTheInterruptItCauses()
    {
        var bench = Programmed(masked: false);
        bench.Raise(device: 1);

        var events = bench.Unit.Events.Events.ToList();
        int fault = events.FindIndex(e => e is FaultEvent);
        int interrupt = events.FindIndex(e => e is FaultInterruptEvent);
        Assert.True(fault >= 0 && interrupt >= 0);
        Assert.True(fault < interrupt, $"fault event #{events[fault].Sequence} comes after interrupt #{events[interrupt].Sequence}");
    }
}
