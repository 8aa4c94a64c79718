using VtdSim.Cli.Tests.Support;

namespace VtdSim.Cli.Tests;

/// <summary>How the numeric options read their values: decimal or 0x-hexadecimal, with a sign only in decimal.</summary>
public class NumberOptionTests
{
    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    [Fact]
    public void AHexadecimalValueMeansTheSameAsItsDecimal()
    {
        var (hexExit, hex) = Run("demo", "--ro-level", "0x2", "--length", "0X80");
        var (decExit, dec) = Run("demo", "--ro-level", "2", "--length", "128");
        Assert.Equal(0, hexExit);
        Assert.Equal(0, decExit);
        Assert.Equal(dec, hex);
    }

    [Theory]
    [InlineData("-1", "--ro-level: -1 is out of range")]        // a negative number is a number, just not one of 1..4
    [InlineData("0x", "--ro-level: '0x' is not a whole number")]  // a prefix without digits
    [InlineData("0x-1", "--ro-level: '0x-1' is not a whole number")] // no sign after the hexadecimal prefix
    [InlineData("0xg", "--ro-level: '0xg' is not a whole number")]
    [InlineData("-", "--ro-level: '-' is not a whole number")]
    [InlineData("--1", "--ro-level: '--1' is not a whole number")]
    public void ANumberInAnotherFormIsAUsageErrorThatQuotesIt(string value, string expected)
    {
        var (exit, text) = Run("demo", "--ro-level", value);
        Assert.Equal(2, exit);
        Assert.Contains(expected, text);
        CliProcess.AssertPlain(text);
    }
}
