using VtdSim.Hardware.Registers;
using E = VtdSim.Hardware.Registers.ExtendedCapabilityBit;

namespace VtdSim.Hardware.Profiles;

/// <summary>The QEMU releases whose intel-iommu the model reproduces (qemu-facts §1, §7.4; decisions P1–P3).</summary>
public enum QemuVersion
{
    /// <summary>QEMU 7.2 (Debian bookworm's 7.2.22): legacy and scalable second stage, aw-bits 39 by default, no x-flts.</summary>
    Qemu72,

    /// <summary>QEMU 11.0: first-stage emulation (x-flts, fs1gp), stale-tm, aw-bits 48 on its machine types, no x-buggy-eim.</summary>
    Qemu11,
}

/// <summary>
/// A realized QEMU intel-iommu as vtd_cap_init sees it: every property resolved (intremap and eim decided, auto no
/// longer possible). It is the one place where QEMU's property values become CAP and ECAP, for every QEMU version the
/// model knows; the command-line side (property names, parsers, defaults, error texts) is the VMM's
/// IntelIommuProperties, which produces one of these (decision P4).
/// </summary>
public sealed record QemuIntelIommu
{
    /// <summary>QEMU's register page: DMAR_REG_SIZE = 0x230, one fault recording register at 0x220, IVA at 0xF0.</summary>
    public const int FaultRecordingOffset = 0x220;
    public const int IotlbRegisterOffset = 0xF0;

    public QemuVersion Version { get; init; } = QemuVersion.Qemu72;
    /// <summary>aw-bits: 39 or 48 (vtd_decide_config refuses anything else).</summary>
    public int AwBits { get; init; } = 39;
    public bool CachingMode { get; init; }
    public bool ScalableMode { get; init; }
    /// <summary>x-flts (QEMU 10.0 and later): first stage only.</summary>
    public bool Flts { get; init; }
    /// <summary>fs1gp (QEMU 10.0 and later): CAP.FS1GP when <see cref="Flts"/>.</summary>
    public bool Fs1gp { get; init; } = true;
    /// <summary>x-pasid-mode: ECAP.PASID.</summary>
    public bool Pasid { get; init; }
    public bool SnoopControl { get; init; }
    public bool DmaDrain { get; init; } = true;
    public bool DmaTranslation { get; init; } = true;
    /// <summary>Interrupt remapping as decided at realize (intremap=auto is on under TCG and qtest).</summary>
    public bool InterruptRemapping { get; init; } = true;
    /// <summary>Extended interrupt mode as decided at realize (eim=auto is off under TCG and qtest without x-buggy-eim).</summary>
    public bool Eim { get; init; }
    /// <summary>device-iotlb: ECAP.DT.</summary>
    public bool DeviceIotlb { get; init; }
    /// <summary>pt: ECAP.PT.</summary>
    public bool PassThrough { get; init; } = true;

    /// <summary>
    /// CAP as vtd_cap_init builds it: FRO (0x220), NFR (one record), ND = 6, MAMV = 18, PSI, SLLPS (2 MiB and 1 GiB),
    /// MGAW = aw-bits − 1; DRW and DRD with dma-drain; SAGAW 39-bit (and 48-bit with aw-bits 48) only with
    /// dma-translation; CM with caching-mode; FS1GP with x-flts and fs1gp. 5-level paging is never offered.
    /// </summary>
    public Capability Cap
    {
        get
        {
            var cap = new Capability(0)
                .WithFaultRecordingOffset(FaultRecordingOffset)
                .WithNumberOfFaultRecords(1)
                .WithNumberOfDomains(6)
                .WithMaximumAddressMaskValue(18)
                .WithPageSelectiveInvalidation(true)
                .WithSecondStageLargePages(twoMiB: true, oneGiB: true)
                .WithMaximumGuestAddressWidth(AwBits)
                .WithDraining(DmaDrain)
                .WithCachingMode(CachingMode);
            if (DmaTranslation)
                cap = cap.WithSupportedAdjustedGuestAddressWidths((AwBits >= 39 ? 0b0010 : 0) | (AwBits >= 48 ? 0b0100 : 0));
            if (Flts && Fs1gp) cap = cap.WithFirstStage1GiBPages(true);
            return cap;
        }
    }

    /// <summary>
    /// ECAP as vtd_cap_init builds it: QI and IRO (0xF0) always; IR and MHMV = 15 with interrupt remapping, EIM with
    /// eim; DT with device-iotlb; PT with pt; SC with snoop-control; with x-flts SMTS and FSTS only (no SRS, no SSTS),
    /// else with scalable mode SMTS, SRS and SSTS; PASID with x-pasid-mode (PSS stays 0). NEST is never offered.
    /// </summary>
    public ExtendedCapability Ecap
    {
        get
        {
            var ecap = new ExtendedCapability(0).With(E.QI, true).WithIotlbRegisterOffset(IotlbRegisterOffset);
            if (InterruptRemapping) ecap = ecap.With(E.IR, true).WithMaximumHandleMaskValue(15).With(E.EIM, Eim);
            ecap = ecap.With(E.DT, DeviceIotlb).With(E.PT, PassThrough).With(E.SC, SnoopControl);
            if (Flts) ecap = ecap.With(E.SMTS, true).With(E.FSTS, true);
            else if (ScalableMode) ecap = ecap.With(E.SMTS, true).With(E.SRS, true).With(E.SSTS, true);
            return ecap.With(E.PASID, Pasid);
        }
    }

    /// <summary>
    /// The unit's profile: <see cref="Cap"/> and <see cref="Ecap"/>, VER 0x10, the host address width aw-bits (QEMU's
    /// VTD_HAW_MASK), faults compressed by source id and QEMU's caches, as QEMU behaves.
    /// </summary>
    public VtdProfile ToProfile(string name, string description)
    {
        var profile = new VtdProfile
        {
            Name = name,
            Description = description,
            Version = 0x10,
            Cap = Cap,
            Ecap = Ecap,
            HostAddressWidth = AwBits,
            CompressFaultsBySourceId = true,
            Caches = BuiltInProfiles.QemuCaches,
        };
        profile.Validate();
        return profile;
    }
}
