using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Translation;

/// <summary>
/// One present leaf of a device's second-stage (or legacy second-level) tables, as <see cref="VtdUnit.ReadMappings"/>
/// finds it: <paramref name="Size"/> bytes from input address <paramref name="Iova"/> go to <paramref name="Output"/>
/// with <paramref name="Rights"/>, the AND of R and W over the levels (QEMU's vtd_page_walk "stacked" permissions).
/// </summary>
public readonly record struct SecondStageMapping(ulong Iova, ulong Size, Hpa Output, AccessRights Rights);

/// <summary>
/// What a unit's tables say for a device's requests without PASID (<see cref="VtdUnit.ReadMappings"/>):
/// <paramref name="Kind"/> is the walk a request would get (Disabled while translation is off; Legacy or SecondStage:
/// the mappings were read; a pass-through kind: addresses go out as they are); <paramref name="Present"/> is false when
/// the root, context or PASID lookup fails (every request would fault); <paramref name="DomainId"/> the context's DID.
/// </summary>
public readonly record struct DeviceMappingView(bool Present, TranslationKind Kind, ushort DomainId);
