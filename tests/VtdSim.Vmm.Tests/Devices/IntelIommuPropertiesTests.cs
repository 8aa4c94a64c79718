using CsCheck;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Vmm.Devices;

namespace VtdSim.Vmm.Tests.Devices;

/// <summary>
/// `-device intel-iommu,…` as QEMU parses and realizes it. The 7.2 texts and orders were taken from Debian's QEMU
/// 7.2.22 (`qemu-system-x86_64 -M q35 -nodefaults -display none -accel tcg -S -qtest stdio -device intel-iommu,…`);
/// the 11 texts are QEMU's vtd_decide_config of the nesting merge (decisions P1–P12).
/// </summary>
public class IntelIommuPropertiesTests
{
    private const QemuVersion V72 = QemuVersion.Qemu72;
    private const QemuVersion V11 = QemuVersion.Qemu11;

    [Fact]
    public void Qemu72HasTheHelpListOf7222WithItsDefaults()
    {
        // `qemu-system-x86_64 -device intel-iommu,help` on Debian 7.2.22 (qemu-facts §1.1).
        string[] expected =
        [
            "aw-bits=39", "caching-mode=off", "device-iotlb=off", "dma-drain=on", "dma-translation=on", "eim=auto",
            "intremap=auto", "pt=on", "snoop-control=off", "version=0", "x-buggy-eim=off", "x-pasid-mode=off", "x-scalable-mode=off",
        ];
        Assert.Equal(expected, IntelIommuProperties.Names(V72).Select(n => $"{n}={IntelIommuProperties.DefaultText(V72, n)}"));
    }

    [Fact]
    public void Qemu11AddsFirstStageAndStaleTmDropsBuggyEimAndDefaultsTo48Bits()
    {
        var names = IntelIommuProperties.Names(V11);
        Assert.Contains("x-flts", names);
        Assert.Contains("fs1gp", names);
        Assert.Contains("stale-tm", names);
        Assert.DoesNotContain("x-buggy-eim", names);
        Assert.Equal("48", IntelIommuProperties.DefaultText(V11, "aw-bits"));
        Assert.Equal("on", IntelIommuProperties.DefaultText(V11, "fs1gp"));
        Assert.Null(IntelIommuProperties.DefaultText(V72, "x-flts"));
    }

    [Theory]
    // Property values (QEMU's qapi/QOM texts), measured on 7.2.22.
    [InlineData("aw-bits=300", "Parameter 'aw-bits' expects uint8_t")]
    [InlineData("aw-bits=-1", "Parameter 'aw-bits' expects uint8_t")]
    [InlineData("aw-bits=-208", "Parameter 'aw-bits' expects uint8_t")]
    [InlineData("aw-bits=256", "Parameter 'aw-bits' expects uint8_t")]
    [InlineData("aw-bits=abc", "Parameter 'aw-bits' expects integer")]
    [InlineData("aw-bits=", "Parameter 'aw-bits' expects integer")]
    [InlineData("aw-bits=48k", "Parameter 'aw-bits' expects integer")]
    [InlineData("aw-bits=48 ", "Parameter 'aw-bits' expects integer")]
    [InlineData("aw-bits=0x", "Parameter 'aw-bits' expects integer")]
    [InlineData("aw-bits=99999999999999999999", "Parameter 'aw-bits' expects integer")]
    [InlineData("caching-mode=maybe", "Parameter 'caching-mode' expects 'on' or 'off'")]
    [InlineData("caching-mode=ON", "Parameter 'caching-mode' expects 'on' or 'off'")]
    [InlineData("caching-mode=", "Parameter 'caching-mode' expects 'on' or 'off'")]
    [InlineData("eim=maybe", "Parameter 'eim' does not accept value 'maybe'")]
    [InlineData("eim=AUTO", "Parameter 'eim' does not accept value 'AUTO'")]
    [InlineData("intremap=maybe", "Parameter 'intremap' does not accept value 'maybe'")]
    [InlineData("version=abc", "Parameter 'version' expects integer")]
    [InlineData("version=4294967296", "Parameter 'version' expects uint32_t")]
    [InlineData("x-flts=on", "Property 'intel-iommu.x-flts' not found")]
    [InlineData("addr=3", "Property 'intel-iommu.addr' not found")]
    [InlineData("bus=pcie.0", "Device 'intel-iommu' can't go on PCIE bus")]
    // QEMU sets properties in QDict order, not command-line order: these are the errors 7.2.22 reported.
    [InlineData("foo=1,bar=2", "Property 'intel-iommu.bar' not found")]
    [InlineData("bar=2,foo=1", "Property 'intel-iommu.bar' not found")]
    [InlineData("foo=1,caching-mode=maybe", "Parameter 'caching-mode' expects 'on' or 'off'")]
    [InlineData("aw-bits=abc,caching-mode=maybe", "Parameter 'caching-mode' expects 'on' or 'off'")]
    [InlineData("caching-mode=maybe,aw-bits=abc", "Parameter 'caching-mode' expects 'on' or 'off'")]
    [InlineData("eim=x,snoop-control=x,dma-drain=x,x-pasid-mode=x", "Parameter 'snoop-control' expects 'on' or 'off'")]
    // Realize (vtd_realize, vtd_decide_config) in QEMU's order, measured on 7.2.22.
    [InlineData("aw-bits=40", "Supported values for aw-bits are: 39, 48")]
    [InlineData("aw-bits=0", "Supported values for aw-bits are: 39, 48")]
    [InlineData("aw-bits=-0", "Supported values for aw-bits are: 39, 48")]
    [InlineData("aw-bits=255", "Supported values for aw-bits are: 39, 48")]
    [InlineData("eim=on", "eim=on requires accel=kvm,kernel-irqchip=split")]
    [InlineData("eim=on,intremap=off", "eim=on cannot be selected without intremap=on")]
    [InlineData("aw-bits=40,eim=on", "eim=on requires accel=kvm,kernel-irqchip=split")]
    [InlineData("x-scalable-mode=on,dma-drain=off", "Need to set dma_drain for scalable mode")]
    [InlineData("aw-bits=40,x-scalable-mode=on,dma-drain=off", "Supported values for aw-bits are: 39, 48")]
    [InlineData("x-pasid-mode=on", "Need to set scalable mode for PASID")]
    [InlineData("x-pasid-mode=on,device-iotlb=on", "PASID based device IOTLB is not supported")]
    [InlineData("x-pasid-mode=on,device-iotlb=on,aw-bits=40", "PASID based device IOTLB is not supported")]
    public void Qemu72RefusesWithItsMessage(string text, string message)
    {
        Assert.Equal(message, Refusal(V72, text));
    }

    [Theory]
    [InlineData("x-flts=on", "x-flts is only available in scalable mode")]
    [InlineData("x-flts=on,aw-bits=40", "x-flts is only available in scalable mode")]
    [InlineData("x-flts=on,x-scalable-mode=on,aw-bits=39", "Scalable mode(x-flts=on): supported value for aw-bits is: 48")]
    [InlineData("x-flts=on,x-scalable-mode=on,aw-bits=40", "Scalable mode(x-flts=on): supported value for aw-bits is: 48")]
    [InlineData("aw-bits=40", "Legacy mode: supported values for aw-bits are: 39, 48")]
    [InlineData("aw-bits=40,x-scalable-mode=on", "Scalable mode(flts=off): supported values for aw-bits are: 39, 48")]
    [InlineData("x-scalable-mode=on,dma-drain=off", "Need to set dma_drain for scalable mode")]
    [InlineData("x-pasid-mode=on", "Need to set scalable mode for PASID")]
    [InlineData("eim=on,intremap=off", "eim=on cannot be selected without intremap=on")]
    [InlineData("x-buggy-eim=on", "Property 'intel-iommu.x-buggy-eim' not found")]
    public void Qemu11RefusesWithItsMessage(string text, string message)
    {
        Assert.Equal(message, Refusal(V11, text));
    }

    [Theory]
    [InlineData(V72, "aw-bits=060", 48)] // strtoull base 0: octal
    [InlineData(V72, "aw-bits=0X30", 48)]
    [InlineData(V72, "aw-bits=+48", 48)]
    [InlineData(V72, "aw-bits= 48", 48)]
    [InlineData(V72, "aw-bits=48,aw-bits=39", 39)] // the last value wins
    [InlineData(V72, "", 39)]
    [InlineData(V11, "", 48)]
    public void AwBitsIsParsedAsQemuParsesIntegers(QemuVersion version, string text, int aw)
    {
        Assert.True(IntelIommuProperties.TryParse(version, text, out var p, out string error), error);
        Assert.True(p.TryRealize(out QemuIntelIommu device, out error), error);
        Assert.Equal(aw, device.AwBits);
    }

    [Theory]
    [InlineData("caching-mode=on")]
    [InlineData("caching-mode=yes")]
    [InlineData("caching-mode=true")]
    [InlineData("caching-mode=y")]
    public void BooleansTakeQemusSpellings(string text)
    {
        Assert.True(IntelIommuProperties.TryParse(V72, text, out var p, out string error), error);
        Assert.True(p.CachingMode);
        Assert.True(IntelIommuProperties.TryParse(V72, text.Replace("=on", "=off").Replace("=yes", "=no").Replace("=true", "=false").Replace("=y", "=n"),
            out p, out error), error);
        Assert.False(p.CachingMode);
    }

    [Fact]
    public void AShortFormBooleanIsAcceptedWithQemusWarning()
    {
        var warnings = new List<string>();
        Assert.True(IntelIommuProperties.TryParse(V72, "caching-mode,nosnoop-control", out var p, out _, warnings));
        Assert.True(p.CachingMode);
        Assert.False(p.SnoopControl);
        Assert.Equal(
        [
            "warning: short-form boolean option 'caching-mode' deprecated\nPlease use caching-mode=on instead",
            "warning: short-form boolean option 'nosnoop-control' deprecated\nPlease use snoop-control=off instead",
        ], warnings);
    }

    [Fact]
    public void TheDeviceTextListsTheGivenPropertiesInCommandLineOrder()
    {
        Assert.True(IntelIommuProperties.TryParse(V11, "x-scalable-mode=on,x-flts=yes,id=vtd0,aw-bits=0x30", out var p, out _));
        Assert.Equal("intel-iommu,x-scalable-mode=on,x-flts=on,aw-bits=48", p.DeviceText);
        Assert.Equal("intel-iommu", IntelIommuProperties.Defaults(V72).DeviceText);
    }

    [Fact]
    public void AFailedSetChangesNothing()
    {
        var p = IntelIommuProperties.Defaults(V72);
        Assert.False(p.TrySet("aw-bits", "abc", out var result, out _));
        Assert.Same(p, result);
        Assert.True(p.TrySet("aw-bits", "48", out result, out _));
        Assert.Equal(39, p.AwBits);
        Assert.Equal(48, result.AwBits);
    }

    [Fact]
    public void MovingToAVersionKeepsGivenValuesAndRefusesWhatThatVersionLacks()
    {
        Assert.True(IntelIommuProperties.TryParse(V11, "x-scalable-mode=on,x-flts=on", out var p, out _));
        var old = p.ForVersion(V72);
        Assert.True(old.XScalableMode);
        Assert.Equal(39, old.AwBits); // not given: 7.2's default
        Assert.False(old.TryRealize(out _, out string error));
        Assert.Equal("Property 'intel-iommu.x-flts' not found", error);
        Assert.Equal(48, IntelIommuProperties.Defaults(V72).ForVersion(V11).AwBits);
    }

    [Theory]
    [InlineData(V72, "", 0x00d2008c22260206UL, 0x0000000000f00f4aUL)]
    [InlineData(V72, "x-scalable-mode=on", 0x00d2008c22260206UL, 0x0000480080f00f4aUL)]
    [InlineData(V72, "x-buggy-eim=on", 0x00d2008c22260206UL, 0x0000000000f00f5aUL)]
    [InlineData(V72, "eim=on,x-buggy-eim=on", 0x00d2008c22260206UL, 0x0000000000f00f5aUL)]
    public void TheProfileCarriesTheMeasuredRegisters(QemuVersion version, string text, ulong cap, ulong ecap)
    {
        Assert.True(IntelIommuProperties.TryParse(version, text, out var p, out _));
        Assert.True(p.TryToProfile(out VtdProfile profile, out string error), error);
        Assert.Equal(cap, profile.Cap.Raw);
        Assert.Equal(ecap, profile.Ecap.Raw);
    }

    [Fact]
    public void TheProfileIsNamedByVersionAndGivenProperties()
    {
        Assert.True(IntelIommuProperties.Defaults(V72).TryToProfile(out VtdProfile profile, out _));
        Assert.Equal("qemu-7.2", profile.Name);
        Assert.Equal(BuiltInProfiles.Qemu72Legacy.Cap, profile.Cap);
        Assert.True(IntelIommuProperties.TryParse(V11, "x-scalable-mode=on,x-flts=on", out var p, out _));
        Assert.True(p.TryToProfile(out profile, out _));
        Assert.Equal("qemu-11+x-scalable-mode=on,x-flts=on", profile.Name);
        Assert.True(profile.Ecap.FirstStageTranslation && !profile.Ecap.SecondStageTranslation);
        Assert.Equal(48, profile.HostAddressWidth);
    }

    [Theory]
    [InlineData("dma-translation=off", "dma-translation=off (an IOMMU for interrupt remapping only) is not modelled")]
    [InlineData("stale-tm=on,device-iotlb=on", "stale-tm=on with device-iotlb=on is not modelled")]
    public void WhatTheUnitDoesNotModelIsRefusedByName(string text, string message)
    {
        Assert.True(IntelIommuProperties.TryParse(V11, text, out var p, out _));
        Assert.True(p.TryRealize(out _, out _)); // QEMU accepts it
        Assert.False(p.TryToProfile(out _, out string error));
        Assert.Equal(message, error);
    }

    [Fact]
    public void Qemu11AcceptsEimOnWithoutKvmAndOffersEim()
    {
        Assert.True(IntelIommuProperties.TryParse(V11, "eim=on", out var p, out _));
        Assert.True(p.TryRealize(out QemuIntelIommu device, out string error), error);
        Assert.True(device.Ecap.ExtendedInterruptMode);
    }

    [Fact]
    public void AnyPropertyTextIsAResultAndWhatRealizesRoundTripsThroughItsDeviceText()
    {
        string[] names = [.. IntelIommuProperties.Names(V11).Union(IntelIommuProperties.Names(V72)), "foo"];
        string[] values = ["on", "off", "auto", "y", "maybe", "39", "48", "0x30", "-1", "300", "", "0"];
        var gen = Gen.Int[0, 1].Select(Gen.Select(Gen.Int[0, names.Length - 1], Gen.Int[0, values.Length - 1]).Array[0, 6]);
        PropertyRunner.Run(gen, c =>
        {
            var version = c.Item1 == 0 ? V72 : V11;
            string text = string.Join(",", c.Item2.Select(p => $"{names[p.Item1]}={values[p.Item2]}"));
            // Never an exception: a result with a message, or properties.
            if (!IntelIommuProperties.TryParse(version, text, out var p, out string error))
            {
                Assert.NotEmpty(error);
                return;
            }
            if (!p.TryRealize(out QemuIntelIommu device, out error))
            {
                Assert.NotEmpty(error);
                return;
            }
            Assert.True(IntelIommuProperties.TryParse(version, p.DeviceText["intel-iommu".Length..].TrimStart(','), out var again, out error), error);
            Assert.True(again.TryRealize(out QemuIntelIommu same, out error), error);
            Assert.Equal(device, same);
            if (p.TryToProfile(out VtdProfile profile, out _))
            {
                Assert.Equal(device.Cap, profile.Cap);
                Assert.Equal(device.Ecap, profile.Ecap);
                Assert.False(profile.Ecap.NestedTranslation);
            }
        }, seed: 9, iterations: 3000, print: c => $"{c.Item1}: {string.Join(",", c.Item2.Select(p => $"{names[p.Item1]}={values[p.Item2]}"))}");
    }

    private static string Refusal(QemuVersion version, string text)
    {
        if (!IntelIommuProperties.TryParse(version, text, out var p, out string error)) return error;
        Assert.False(p.TryRealize(out _, out error), $"{text} was accepted");
        return error;
    }
}
