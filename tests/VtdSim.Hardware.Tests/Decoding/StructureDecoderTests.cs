using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Decoding;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Properties;

namespace VtdSim.Hardware.Tests.Decoding;

/// <summary>
/// The field tables: known register values (QEMU 7.2's, measured; the sapphire-rapids profile's) decode to the fields
/// the specification gives them, entries the model's builders make decode back to what was built, and every table
/// covers every bit of its structure exactly once.
/// </summary>
public class StructureDecoderTests
{
    private static DecodedField Field(DecodedStructure d, string name) => d.Fields.Single(f => f.Name == name);

    private static DecodedStructure Decode(StructureKind kind, params ulong[] values) => StructureDecoder.Decode(kind, values);

    [Fact]
    public void Qemu72sCapDecodesFieldByField()
    {
        // QEMU 7.2.22's CAP with its defaults, read over qtest (QemuIntelIommuTests), decoded by hand from spec 11.4.2.
        var d = Decode(StructureDecoder.Cap, 0x00d2008c22260206);
        Assert.Equal("ND", d.Fields[0].Name);
        Assert.Equal("65536 domain ids", Field(d, "ND").Meaning.Split(": ")[1]);
        Assert.EndsWith(": 39-bit (3-level)", Field(d, "SAGAW").Meaning);
        Assert.EndsWith(": 39-bit", Field(d, "MGAW").Meaning);
        Assert.Equal(0x22UL, Field(d, "FRO").Value);
        Assert.Contains("offset 0x220", Field(d, "FRO").Meaning);
        Assert.EndsWith(": 2 MiB, 1 GiB", Field(d, "SSLPS (SLLPS)").Meaning);
        Assert.Equal(1UL, Field(d, "PSI").Value);
        Assert.EndsWith(": 1 fault-recording register", Field(d, "NFR").Meaning);
        Assert.Equal(18UL, Field(d, "MAMV").Value);
        Assert.Equal(1UL, Field(d, "DWD").Value);
        Assert.Equal(1UL, Field(d, "DRD").Value);
        foreach (string clear in new[] { "AFL", "RWBF", "PLMR", "PHMR", "CM", "ZLR", "FS1GP (FL1GP)", "PI", "FS5LP (FL5LP)", "ECMDS", "ESIRTPS", "ESRTPS" })
            Assert.Equal(0UL, Field(d, clear).Value);
        Assert.Empty(d.Problems);
        Assert.Empty(d.Notes);
    }

    [Fact]
    public void Qemu72sEcapDecodesFieldByField()
    {
        var d = Decode(StructureDecoder.Ecap, 0xf00f4a);
        var set = d.Fields.Where(f => f.High == f.Low && f.Value == 1).Select(f => f.Name).ToArray();
        Assert.Equal(new[] { "QI", "IR", "PT" }, set);
        Assert.Contains("offset 0xf0", Field(d, "IRO").Meaning);
        Assert.Equal(15UL, Field(d, "MHMV").Value);
        Assert.EndsWith(": 1-bit PASIDs", Field(d, "PSS").Meaning);
        Assert.Empty(d.Problems);

        // x-scalable-mode=on: SMTS (43), SSTS (46) and the SL A/D... as measured: 0x0000480080f00f4a.
        var scalable = Decode(StructureDecoder.Ecap, 0x0000480080f00f4a);
        Assert.Equal(new[] { "QI", "IR", "PT", "SRS", "SMTS", "SSTS (SLTS)" },
            scalable.Fields.Where(f => f.High == f.Low && f.Value == 1).Select(f => f.Name).ToArray());
    }

    [Fact]
    public void SapphireRapidsProfileDecodes()
    {
        var cap = Decode(StructureDecoder.Cap, BuiltInProfiles.SapphireRapids.Cap.Raw);
        Assert.EndsWith(": 48-bit (4-level), 57-bit (5-level)", Field(cap, "SAGAW").Meaning);
        Assert.EndsWith(": 57-bit", Field(cap, "MGAW").Meaning);
        Assert.EndsWith(": 8 fault-recording registers", Field(cap, "NFR").Meaning);
        Assert.Equal(1UL, Field(cap, "FS5LP (FL5LP)").Value);
        Assert.Equal(1UL, Field(cap, "ESRTPS").Value);
        Assert.Empty(cap.Problems);

        var ecap = Decode(StructureDecoder.Ecap, BuiltInProfiles.SapphireRapids.Ecap.Raw);
        Assert.Equal(1UL, Field(ecap, "NEST").Value);
        Assert.EndsWith(": PGTT 011 (nested) is supported", Field(ecap, "NEST").Meaning);
        Assert.EndsWith(": 20-bit PASIDs", Field(ecap, "PSS").Meaning);
        Assert.Contains("offset 0x200", Field(ecap, "IRO").Meaning);
        Assert.Empty(ecap.Problems);
    }

    [Fact]
    public void ReservedBitsThatAreSetAreFlaggedByTheirBits()
    {
        // Legacy context entry with bit 71 (high qword bit 7) set: LCT.3 on hardware.
        var context = LegacyContextEntry.Create(new Hpa(0x5000), 2, 9);
        var d = Decode(StructureDecoder.Context, context.Low, context.High | 1UL << 7);
        var problem = Assert.Single(d.Problems);
        Assert.Equal("71", problem.Bits);
        Assert.Contains("SET, must be 0", problem.Meaning);
        Assert.Contains(d.Notes, n => n.Contains("reserved bits are set"));

        // ND = 7 is a reserved encoding; CAP bit 38 reserved: both flagged.
        var cap = Decode(StructureDecoder.Cap, 7 | 1UL << 38);
        Assert.Equal(new[] { "2:0", "38" }, cap.Problems.Select(p => p.Bits).ToArray());
    }

    [Theory]
    [InlineData(0UL, "reserved encoding (000)", true)]
    [InlineData(1UL, "first-stage only (001)", false)]
    [InlineData(2UL, "second-stage only (010)", false)]
    [InlineData(3UL, "nested (011)", false)]
    [InlineData(4UL, "pass-through (100)", false)]
    [InlineData(5UL, "reserved encoding (101)", true)]
    public void PgttIsNamedAsTheSpecNamesItsEncodings(ulong pgtt, string meaning, bool flagged)
    {
        var d = Decode(StructureDecoder.PasidEntry, 1 | pgtt << 6, 0, 0, 0, 0, 0, 0, 0);
        Assert.EndsWith(": " + meaning, Field(d, "PGTT").Meaning);
        Assert.Equal(flagged, Field(d, "PGTT").Flagged);
    }

    [Theory]
    [InlineData(4, 0x1000UL | 0x80, "7", true)]            // PS in a PML4E is reserved
    [InlineData(2, 0x200000UL | 0x80 | 0x1000, "12", false)] // 2 MiB PDE: bit 12 is PAT, not an address bit
    [InlineData(2, 0x200000UL | 0x80 | 0x2000, "20:13", true)] // ... and 20:13 are reserved
    [InlineData(3, 0x40000000UL | 0x80 | 0x100000, "29:13", true)]
    public void FirstStageLayoutFollowsTheLevelAndPageSize(int level, ulong raw, string bits, bool flagged)
    {
        var d = StructureDecoder.Decode(StructureDecoder.FirstStage, [raw | 1], level);
        var field = d.Fields.Single(f => f.Bits == bits);
        Assert.Equal(flagged, field.Flagged);
    }

    [Fact]
    public void ANotPresentPagingEntryIsSaidToBe()
    {
        Assert.Contains("SFS.2", Assert.Single(Decode(StructureDecoder.FirstStage, 0x5000).Notes));
        Assert.Contains("SSS.2", Assert.Single(Decode(StructureDecoder.SecondStage, 0x5004).Notes)); // X alone is not present
        Assert.Empty(Decode(StructureDecoder.SecondStage, 0x5001).Notes);
    }

    /// <summary>Every table, for every level and page size: the fields put back together are the value, bit for bit.</summary>
    [Fact]
    public void EveryTableCoversEveryBitExactlyOnce()
    {
        var gen = Gen.Select(Gen.Int[0, StructureDecoder.Kinds.Count - 1], Gen.Int[1, 5], Gen.ULong.Array[8]);
        PropertyRunner.Run(gen, t =>
        {
            var (k, level, random) = t;
            StructureKind kind = StructureDecoder.Kinds[k];
            ulong[] values = random[..kind.Qwords];
            var d = StructureDecoder.Decode(kind, values, level);
            var rebuilt = new ulong[kind.Qwords];
            var covered = new ulong[kind.Qwords];
            foreach (var f in d.Fields)
            {
                int q = f.Low / 64;
                Assert.Equal(q, f.High / 64);
                int width = f.High - f.Low + 1;
                ulong mask = (width == 64 ? ulong.MaxValue : (1UL << width) - 1) << (f.Low % 64);
                Assert.True((covered[q] & mask) == 0, $"{kind.Name} level {level}: bits {f.Bits} decoded twice");
                covered[q] |= mask;
                rebuilt[q] |= f.Value << (f.Low % 64);
            }
            Assert.All(covered, c => Assert.Equal(ulong.MaxValue, c));
            Assert.Equal(values, rebuilt);
        }, seed: 12_001, iterations: 3_000);
    }

    [Fact]
    public void EntriesTheBuildersMakeDecodeToWhatWasBuilt()
    {
        var gen = Gen.Select(Gen.ULong[0, (1UL << 40) - 1], Gen.ULong[0, (1UL << 40) - 1], Gen.Int[0, 3], Gen.UShort, Gen.Bool, Gen.UInt[0, (1u << 20) - 1], Gen.Int[0, 7]);
        PropertyRunner.Run(gen, t =>
        {
            var (a, b, aw, did, five, ridPasid, pdts) = t;
            ulong first = a << 12, second = b << 12;

            var nested = PasidEntry.NestedEntry(first, new Hpa(second), aw, did, five);
            var d = Decode(StructureDecoder.PasidEntry, nested.Q0, nested.Q1, nested.Q2, nested.Q3, nested.Q4, nested.Q5, nested.Q6, nested.Q7);
            Assert.Equal(first, Field(d, "FSPTPTR (FLPTPTR)").Value << 12);
            Assert.Equal(second, Field(d, "SSPTPTR (SLPTPTR)").Value << 12);
            Assert.Equal((ulong)aw, Field(d, "AW").Value);
            Assert.Equal(did, Field(d, "DID").Value);
            Assert.Equal(five ? 1UL : 0, Field(d, "FSPM (FLPM)").Value);
            Assert.Equal(3UL, Field(d, "PGTT").Value);
            Assert.Equal(1UL, Field(d, "P").Value);
            Assert.Empty(d.Problems);

            var legacy = LegacyContextEntry.Create(new Hpa(second), aw, did, (TranslationType)(pdts % 3));
            var c = Decode(StructureDecoder.Context, legacy.Low, legacy.High);
            Assert.Equal(second, Field(c, "SSPTPTR (SLPTPTR)").Value << 12);
            Assert.Equal((ulong)aw, Field(c, "AW").Value);
            Assert.Equal(did, Field(c, "DID").Value);
            Assert.Equal((ulong)(pdts % 3), Field(c, "TT").Value);
            Assert.Empty(c.Problems);

            var scalable = ScalableContextEntry.Create(new Hpa(first), pdts, ridPasid);
            var s = Decode(StructureDecoder.ScalableContext, scalable.Q0, scalable.Q1, scalable.Q2, scalable.Q3);
            Assert.Equal(first, Field(s, "PASIDDIRPTR").Value << 12);
            Assert.Equal((ulong)pdts, Field(s, "PDTS").Value);
            Assert.Equal(ridPasid, Field(s, "RID_PASID").Value);
            Assert.Empty(s.Problems);

            var root = new RootEntry(0, 0).WithLower(new Hpa(first)).WithUpper(new Hpa(second));
            var r = Decode(StructureDecoder.ScalableRoot, root.Low, root.High);
            Assert.Equal(first, Field(r, "LCTP").Value << 12);
            Assert.Equal(second, Field(r, "UCTP").Value << 12);
            Assert.Equal(1UL, Field(r, "UP").Value);

            int level = aw % 3 + 1;
            ulong frame = first & ~((1UL << (12 + 9 * (level - 1))) - 1);
            var fs = FirstStageEntry.Page(frame, level, writable: five, user: !five);
            var f = StructureDecoder.Decode(StructureDecoder.FirstStage, [fs.Raw], level);
            Assert.Equal(frame, Field(f, "ADDR").Value << Field(f, "ADDR").Low);
            Assert.Equal(five ? 1UL : 0, Field(f, "R/W").Value);
            Assert.Equal(five ? 0UL : 1, Field(f, "U/S").Value);
            Assert.Empty(f.Problems);

            var ss = SecondStageEntry.Page(frame, level, read: true, write: !five);
            var g = StructureDecoder.Decode(StructureDecoder.SecondStage, [ss.Raw], level);
            Assert.Equal(frame, Field(g, "ADDR").Value << Field(g, "ADDR").Low);
            Assert.Equal(five ? 0UL : 1, Field(g, "W").Value);
            Assert.Empty(g.Problems);

            var cap = new Capability(0).WithNumberOfDomains(pdts % 7).WithMaximumGuestAddressWidth(aw + 30).WithNumberOfFaultRecords(did % 256 + 1)
                .WithFaultRecordingOffset((int)(a % 1024) * 16);
            var k = Decode(StructureDecoder.Cap, cap.Raw);
            Assert.Equal($"{1UL << (4 + 2 * (pdts % 7))} domain ids", Field(k, "ND").Meaning.Split(": ")[1]);
            Assert.Equal((ulong)(aw + 29), Field(k, "MGAW").Value);
            Assert.Equal((ulong)(did % 256), Field(k, "NFR").Value);
            Assert.Equal(a % 1024, Field(k, "FRO").Value);
        }, seed: 12_002, iterations: 2_000);
    }

    [Theory]
    [InlineData("0x00d2008c22260206", 0x00d2008c22260206UL)]
    [InlineData("0XFF", 0xffUL)]
    [InlineData("31", 31UL)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData(" 0x1 ", 1UL)]
    public void ValuesAreHexWith0xOrDecimal(string text, ulong expected)
    {
        Assert.True(StructureDecoder.TryParseValue(text, out ulong value, out _));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("cap", new[] { "0x" }, "value '0x': not a hex number")]
    [InlineData("cap", new[] { "ff" }, "value 'ff': not a number; give hex with 0x")]
    [InlineData("cap", new[] { "0x10000000000000000" }, "does not fit in 64 bits")]
    [InlineData("cap", new[] { "-1" }, "not a number")]
    [InlineData("cap", new string[0], "cap takes one 64-bit value; 0 given")]
    [InlineData("context", new[] { "1" }, "context takes 2 64-bit values, low qword first (QW0 to QW1); 1 given")]
    [InlineData("pasid-entry", new[] { "1", "2", "x3", "0", "0", "0", "0", "0" }, "QW2 'x3': not a number")]
    public void BadValuesAreRefusedNamingTheValue(string kindName, string[] texts, string message)
    {
        Assert.True(StructureDecoder.TryFindKind(kindName, out var kind, out _));
        Assert.False(StructureDecoder.TryDecode(kind, texts, 1, out var result, out string error));
        Assert.Null(result);
        Assert.Contains(message, error);
    }

    [Fact]
    public void AnUnknownKindListsTheKnownOnes()
    {
        Assert.False(StructureDecoder.TryFindKind("pte", out _, out string error));
        Assert.Contains("'pte' is not a structure", error);
        Assert.Contains("fs-pte, ss-pte, sl-pte", error);
    }
}
