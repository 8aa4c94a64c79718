using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;

namespace VtdSim.Machine.Tests;

/// <summary>A machine whose firmware describes no DMA remapping unit: DMA addresses are physical addresses (decisions B1, B2).</summary>
public class MachineWithoutIommuTests
{
    private static readonly SourceId Nic = new(0, 4, 0);

    [Fact]
    public void ItHasNoRemappingUnitAndNoIommuBase()
    {
        var m = PhysicalMachine.WithoutIommu(1UL << 30);
        Assert.False(m.HasIommu);
        Assert.Empty(m.RemappingUnits);
        Assert.Empty(m.MmioRegions);
        Assert.Throws<InvalidOperationException>(() => m.IommuBase);
    }

    [Fact]
    public void AHostDescribesItsOneUnitAsInFirmwaresDmarTable()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 30);
        var unit = Assert.Single(m.RemappingUnits);
        Assert.Equal(new Hpa(0xFED9_0000), unit.RegisterBase);
        Assert.True(unit.IncludePciAll);
        Assert.True(unit.Covers(Nic));
        Assert.False((unit with { IncludePciAll = false }).Covers(Nic));
        Assert.True((unit with { IncludePciAll = false, DeviceScope = [Nic] }).Covers(Nic));
    }

    [Fact]
    public void DmaWritesAndReadsMemoryAtTheRequestsAddress()
    {
        var m = PhysicalMachine.WithoutIommu(1UL << 30);
        byte[] data = [.. Enumerable.Range(1, 6000).Select(i => (byte)i)]; // crosses two page boundaries

        var w = m.Dma.Write(new DmaRequest(Nic, new Iova(0x2_0F00), DmaAccess.Write), data);
        Assert.True(w.Completed);
        Assert.Equal(data.Length, w.BytesTransferred);

        var cpu = new byte[data.Length];
        Assert.True(m.TryReadBytes(new Hpa(0x2_0F00), cpu));
        Assert.Equal(data, cpu);
        var back = new byte[data.Length];
        Assert.True(m.Dma.Read(new DmaRequest(Nic, new Iova(0x2_0F00), DmaAccess.Read), back).Completed);
        Assert.Equal(data, back);
    }

    [Fact]
    public void ATransferStopsWhereMemoryEndsKeepingThePagesBefore()
    {
        var m = PhysicalMachine.WithoutIommu(1UL << 20);
        var result = m.Dma.Write(new DmaRequest(Nic, new Iova((1UL << 20) - 0x800), DmaAccess.Write), new byte[0x1000]);

        Assert.Equal(0x800, result.BytesTransferred);
        Assert.Null(result.Fault);
        Assert.Contains("not backed by memory", result.MemoryError);
    }

    [Fact]
    public void ARequestWithAPasidIsRefusedWithoutMovingData()
    {
        var m = PhysicalMachine.WithoutIommu(1UL << 20);
        var result = m.Dma.Write(new DmaRequest(Nic, new Iova(0x1000), DmaAccess.Write, Pasid: 1), [1, 2, 3, 4]);

        Assert.Equal(0, result.BytesTransferred);
        Assert.Contains("PASID 0x1", result.MemoryError);
        Assert.Equal(0UL, m.Read(new Hpa(0x1000), 4));
    }

    [Fact]
    public void AnAtsTranslationRequestIsRefusedAndATranslatedRequestGoesToMemory()
    {
        var m = PhysicalMachine.WithoutIommu(1UL << 20);
        var ats = m.Dma.Read(new DmaRequest(Nic, new Iova(0x1000), DmaAccess.Read, AddressType: AddressType.TranslationRequest), new byte[4]);
        Assert.Equal(0, ats.BytesTransferred);
        Assert.Contains("Unsupported Request", ats.MemoryError);

        var translated = m.Dma.Write(new DmaRequest(Nic, new Iova(0x1000), DmaAccess.Write, AddressType: AddressType.Translated), [9, 9, 9, 9]);
        Assert.True(translated.Completed);
        Assert.Equal(0x0909_0909UL, m.Read(new Hpa(0x1000), 4));
    }

    [Fact]
    public void ADwordWriteToTheInterruptRangeIsAnMsiDeliveredWhenTheDmaReturns()
    {
        var m = PhysicalMachine.WithoutIommu(1UL << 33);
        int calls = 0;
        m.Interrupts.TryRegister(0x45, () => calls++);

        var result = m.Dma.Write(new DmaRequest(Nic, new Iova(0xFEE0_0000), DmaAccess.Write), BitConverter.GetBytes(0x45u));

        Assert.True(result.Completed);
        Assert.Equal(1, calls);
        Assert.Equal(0UL, m.Read(new Hpa(0xFEE0_0000), 4)); // no memory was written
    }

    [Theory]
    [InlineData(DmaAccess.Read, 0xFEE0_0000UL, 4)]
    [InlineData(DmaAccess.Write, 0xFEE0_0000UL, 8)]
    [InlineData(DmaAccess.Write, 0xFEE0_0002UL, 4)]
    [InlineData(DmaAccess.Write, 0xFEDF_FFFCUL, 8)] // straddles the window's start
    public void AnyOtherAccessToTheInterruptRangeIsRefused(DmaAccess access, ulong address, int length)
    {
        var m = PhysicalMachine.WithoutIommu(1UL << 33);
        var request = new DmaRequest(Nic, new Iova(address), access);
        var buffer = new byte[length];
        var result = access == DmaAccess.Read ? m.Dma.Read(request, buffer) : m.Dma.Write(request, buffer);

        Assert.Equal(0, result.BytesTransferred);
        Assert.Contains("interrupt range", result.MemoryError);
        Assert.Equal(0, m.Interrupts.Received);
    }
}
