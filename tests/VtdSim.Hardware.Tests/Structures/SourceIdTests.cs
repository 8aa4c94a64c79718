using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Hardware.Tests.Structures;

/// <summary>Requester ids and profile names as users type them: strict, with messages that name no .NET type or parameter.</summary>
public class SourceIdTests
{
    [Theory]
    [InlineData("00:01.0", 0x0008)]
    [InlineData("0:1.0", 0x0008)]
    [InlineData("ff:1f.7", 0xFFFF)]
    [InlineData("3A:0b.2", 0x3A5A)]
    public void ARequesterIdAsLspciPrintsItParses(string text, int value)
    {
        Assert.True(SourceId.TryParse(text, out SourceId id, out string error));
        Assert.Equal((ushort)value, id.Value);
        Assert.Equal("", error);
        Assert.Equal(id, SourceId.Parse(text));
        Assert.Equal(id, SourceId.Parse(id.ToString()));
    }

    [Theory]
    [InlineData("00:01.-1", "function")]
    [InlineData("00:01.8", "function")]
    [InlineData("00:01.", "function")]
    [InlineData("00:01.+1", "function")]
    [InlineData("00:0x1.0", "device")]
    [InlineData("00:20.0", "device")]
    [InlineData("100:01.0", "bus")]
    [InlineData(" 0:01.0", "bus")]
    [InlineData("0000:00:01.0", "exactly one ':'")]
    [InlineData("00.01:0", "exactly one ':'")]
    [InlineData("", "exactly one ':'")]
    public void AnythingElseIsRefusedNamingThePart(string text, string part)
    {
        Assert.False(SourceId.TryParse(text, out _, out string error));
        Assert.Contains(part, error);
        Assert.StartsWith($"'{text}' is not a requester id", error);
        var e = Assert.Throws<FormatException>(() => SourceId.Parse(text));
        Assert.Equal(error, e.Message);
        Assert.DoesNotContain("Parameter", error);
    }

    [Fact]
    public void AnUnknownProfileNameListsTheKnownOnesWithoutAParameterName()
    {
        Assert.False(BuiltInProfiles.TryFind("skylake", out var none, out string error));
        Assert.Null(none);
        Assert.Equal("unknown profile 'skylake'; known profiles: sapphire-rapids, architectural, qemu-7.2, qemu-7.2-scalable", error);
        Assert.Equal(error, Assert.Throws<ArgumentException>(() => BuiltInProfiles.Find("skylake")).Message);
        Assert.True(BuiltInProfiles.TryFind("Sapphire-Rapids", out var found, out _));
        Assert.Same(BuiltInProfiles.SapphireRapids, found);
    }
}
