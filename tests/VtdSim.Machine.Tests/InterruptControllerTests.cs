using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Translation;

namespace VtdSim.Machine.Tests;

/// <summary>The machine's MSI sink: latched, delivered only at the defined points, highest vector first, never re-entered (decisions B8, B9).</summary>
public class InterruptControllerTests
{
    private const ulong Msi = 0xFEE0_0000;

    [Fact]
    public void AnMsiIsLatchedAndDeliveredOnlyWhenSoftwareReachesADeliveryPoint()
    {
        var irq = new InterruptController();
        int calls = 0;
        Assert.True(irq.TryRegister(0x30, () => calls++));

        Assert.True(irq.Signal(Msi, 0x30));
        Assert.Equal(0, calls);
        Assert.True(irq.IsPending(0x30));

        irq.DeliverPending();
        Assert.Equal(1, calls);
        Assert.False(irq.AnyPending);
    }

    [Fact]
    public void TwoMsisWithTheSameVectorBeforeDeliveryAreOneInterruptAsInTheApicsIrr()
    {
        var irq = new InterruptController();
        int calls = 0;
        irq.TryRegister(0x30, () => calls++);

        irq.Signal(Msi, 0x30);
        irq.Signal(Msi | 0x1000, 0x30);
        irq.DeliverPending();

        Assert.Equal(1, calls);
        Assert.Equal(2, irq.Received);
    }

    [Fact]
    public void PendingVectorsAreDeliveredHighestFirst()
    {
        var irq = new InterruptController();
        var order = new List<int>();
        foreach (int v in new[] { 0x21, 0x80, 0x41 }) irq.TryRegister(v, () => order.Add(v));
        foreach (int v in new[] { 0x21, 0x80, 0x41 }) irq.Signal(Msi, (uint)v);

        irq.DeliverPending();

        Assert.Equal([0x80, 0x41, 0x21], order);
    }

    [Fact]
    public void AnMsiRaisedByAHandlerIsDeliveredAfterItReturnsNotInsideIt()
    {
        var irq = new InterruptController();
        var trace = new List<string>();
        irq.TryRegister(0x40, () =>
        {
            trace.Add("enter 40");
            irq.Signal(Msi, 0x50);
            irq.DeliverPending(); // a delivery point inside a handler does nothing
            trace.Add("leave 40");
        });
        irq.TryRegister(0x50, () => trace.Add("50"));
        irq.Signal(Msi, 0x40);

        irq.DeliverPending();

        Assert.Equal(["enter 40", "leave 40", "50"], trace);
    }

    [Fact]
    public void WithDeliveryDisabledMsisAccumulateAndAreDeliveredWhenItIsEnabledAgain()
    {
        var irq = new InterruptController();
        int calls = 0;
        irq.TryRegister(0x30, () => calls++);
        irq.DeliveryEnabled = false;

        irq.Signal(Msi, 0x30);
        irq.DeliverPending();
        Assert.Equal(0, calls);

        irq.DeliveryEnabled = true;
        Assert.Equal(1, calls);
    }

    [Theory]
    [InlineData(0xFED0_0000UL, 0x30u)]  // not the interrupt window
    [InlineData(0xFEF0_0000UL, 0x30u)]  // just above it
    [InlineData(0xFEE0_0010UL, 0x30u)]  // remappable format (bit 4): interrupt remapping is not modelled
    [InlineData(0xFEE0_0000UL, 0x0Fu)]  // an illegal vector
    public void WhatIsNotACompatibilityFormatInterruptWithALegalVectorIsDropped(ulong address, uint data)
    {
        var irq = new InterruptController();
        Assert.False(irq.Signal(address, data));
        Assert.Equal(1, irq.Dropped);
        Assert.False(irq.AnyPending);
    }

    [Fact]
    public void AVectorWithoutAHandlerIsCountedAsUnhandled()
    {
        var irq = new InterruptController();
        irq.Signal(Msi, 0x99);
        irq.DeliverPending();
        Assert.Equal(1, irq.Unhandled);
    }

    [Fact]
    public void AVectorCanBeRegisteredOnceAndIllegalVectorsNever()
    {
        var irq = new InterruptController();
        Assert.True(irq.TryRegister(0x30, () => { }));
        Assert.False(irq.TryRegister(0x30, () => { }));
        Assert.False(irq.TryRegister(0x0F, () => { }));
        Assert.False(irq.TryRegister(256, () => { }));
        irq.Unregister(0x30);
        Assert.True(irq.TryRegister(0x30, () => { }));
    }

    // ---- the host's VT-d unit as an MSI source ----

    private static (PhysicalMachine Machine, List<string> Trace) HostWithFaultVector(int vector)
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 32);
        var trace = new List<string>();
        m.Interrupts.TryRegister(vector, () => trace.Add("handler"));
        m.Write(m.IommuBase + RegisterOffset.FEDATA, 4, (ulong)vector);
        m.Write(m.IommuBase + RegisterOffset.FEADDR, 4, 0xFEE0_0000);
        m.Write(m.IommuBase + RegisterOffset.FECTL, 4, 0);
        RegisterProgramming.EnableTranslation(m.HardwareIommu!, new Hpa(0x10_0000), TranslationTableMode.Scalable); // empty root table: every DMA faults
        return (m, trace);
    }

    [Fact]
    public void TheUnitsFaultEventIsLatchedDuringTranslationAndDeliveredWhenTheDmaCallReturns()
    {
        var (m, trace) = HostWithFaultVector(0x22);
        var request = new DmaRequest(new SourceId(0, 4, 0), new Iova(0x1000), DmaAccess.Read);

        Assert.NotNull(m.HardwareIommu!.Translate(request).Fault); // the unit itself: the MSI is only latched
        Assert.Empty(trace);
        Assert.True(m.Interrupts.IsPending(0x22));
        m.Interrupts.DeliverPending();
        Assert.Equal(["handler"], trace);
    }

    [Fact]
    public void ADmaThatFaultsRunsTheHandlerOnceTheTransferHasReturned()
    {
        var (m, trace) = HostWithFaultVector(0x22);

        var result = m.Dma.Read(new DmaRequest(new SourceId(0, 4, 0), new Iova(0x1000), DmaAccess.Read), new byte[8]);

        Assert.NotNull(result.Fault);
        Assert.Equal(["handler"], trace);
        Assert.False(m.Interrupts.AnyPending);
    }

    [Fact]
    public void AnEventHeldByTheMaskIsDeliveredWhenTheCpuStoreThatUnmasksCompletes()
    {
        var (m, trace) = HostWithFaultVector(0x22);
        m.Write(m.IommuBase + RegisterOffset.FECTL, 4, 1u << 31); // mask
        m.Dma.Read(new DmaRequest(new SourceId(0, 4, 0), new Iova(0x1000), DmaAccess.Read), new byte[8]);
        Assert.Empty(trace);
        Assert.Equal(3u << 30, (uint)m.Read(m.IommuBase + RegisterOffset.FECTL, 4)); // IM and IP

        m.Write(m.IommuBase + RegisterOffset.FECTL, 4, 0);

        Assert.Equal(["handler"], trace);
        Assert.Equal(0u, (uint)m.Read(m.IommuBase + RegisterOffset.FECTL, 4));
    }
}
