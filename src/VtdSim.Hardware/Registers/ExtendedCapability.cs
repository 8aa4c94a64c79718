using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Registers;

/// <summary>The Extended Capability register (ECAP, offset 0x10), decoded field by field (spec 11.4.3).</summary>
public readonly record struct ExtendedCapability(ulong Raw)
{
    public bool PageWalkCoherency => Bits.Test(Raw, 0);
    public bool QueuedInvalidation => Bits.Test(Raw, 1);
    public bool DeviceTlb => Bits.Test(Raw, 2);
    public bool InterruptRemapping => Bits.Test(Raw, 3);
    public bool ExtendedInterruptMode => Bits.Test(Raw, 4);
    public bool PassThrough => Bits.Test(Raw, 6);
    public bool SnoopControl => Bits.Test(Raw, 7);
    /// <summary>IRO: IOTLB register offset in bytes (the field holds offset/16).</summary>
    public int IotlbRegisterOffset => (int)Bits.Get(Raw, 17, 8) * 16;
    public int MaximumHandleMaskValue => (int)Bits.Get(Raw, 23, 20);
    public bool MemoryTypeSupport => Bits.Test(Raw, 25);
    public bool NestedTranslation => Bits.Test(Raw, 26);
    public bool PageRequests => Bits.Test(Raw, 29);
    public bool ExecuteRequests => Bits.Test(Raw, 30);
    public bool SupervisorRequests => Bits.Test(Raw, 31);
    public bool NoWriteFlag => Bits.Test(Raw, 33);
    public bool ExtendedAccessedFlag => Bits.Test(Raw, 34);
    /// <summary>PASID width in bits (PSS + 1).</summary>
    public int PasidWidth => (int)Bits.Get(Raw, 39, 35) + 1;
    public bool Pasid => Bits.Test(Raw, 40);
    public bool DeviceTlbInvalidationThrottle => Bits.Test(Raw, 41);
    public bool PageRequestDrain => Bits.Test(Raw, 42);
    public bool ScalableModeTranslation => Bits.Test(Raw, 43);
    public bool VirtualCommand => Bits.Test(Raw, 44);
    public bool SecondStageAccessedDirty => Bits.Test(Raw, 45);
    public bool SecondStageTranslation => Bits.Test(Raw, 46);
    public bool FirstStageTranslation => Bits.Test(Raw, 47);
    public bool ScalableModePageWalkCoherency => Bits.Test(Raw, 48);
    public bool RidPasid => Bits.Test(Raw, 49);
    public bool PerformanceMonitoring => Bits.Test(Raw, 51);
    public bool AbortDmaMode => Bits.Test(Raw, 52);
    public bool RidPrivilege => Bits.Test(Raw, 53);

    public ExtendedCapability With(int bit, bool on) => new(Bits.Set(Raw, bit, on));
    public ExtendedCapability WithIotlbRegisterOffset(int bytes) => new(Bits.Set(Raw, 17, 8, Bits.SixteenByteUnits(bytes, "IRO"), "IRO"));
    public ExtendedCapability WithMaximumHandleMaskValue(int v) => new(Bits.Set(Raw, 23, 20, (ulong)v, "MHMV"));
    public ExtendedCapability WithPasidWidth(int bits) => new(Bits.Set(Raw, 39, 35, (ulong)(bits - 1), "PSS"));

    public override string ToString() => $"0x{Raw:x16}";
}
