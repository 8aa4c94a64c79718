using VtdSim.Cli.Qtest;

namespace VtdSim.Cli.Tests.Qtest;

public class QtestOptionsTests
{
    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("4096", 4096UL)]
    [InlineData("0x1000", 4096UL)]
    [InlineData("0X1000", 4096UL)]
    [InlineData("010", 8UL)]
    [InlineData("+7", 7UL)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData("0xffffffffffffffff", ulong.MaxValue)]
    public void UnsignedNumbersParseAsStrtoullBaseZero(string text, ulong expected)
    {
        Assert.True(QtestNumbers.TryParseUnsigned(text, out ulong v, out string error), error);
        Assert.Equal(expected, v);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0x")]
    [InlineData("09")]
    [InlineData("12abc")]
    [InlineData("-1")]
    [InlineData("+-1")]
    [InlineData("18446744073709551616")]
    [InlineData("0x10000000000000000")]
    [InlineData(" 1")]
    public void MalformedUnsignedNumbersAreRefused(string text)
    {
        Assert.False(QtestNumbers.TryParseUnsigned(text, out _, out string error));
        Assert.NotEmpty(error);
    }

    [Theory]
    [InlineData("-5", -5L)]
    [InlineData("0x10", 16L)]
    [InlineData("-9223372036854775808", long.MinValue)]
    [InlineData("9223372036854775807", long.MaxValue)]
    public void SignedNumbers(string text, long expected)
    {
        Assert.True(QtestNumbers.TryParseSigned(text, out long v, out string error), error);
        Assert.Equal(expected, v);
        Assert.False(QtestNumbers.TryParseSigned("9223372036854775808", out _, out _));
    }

    [Theory]
    [InlineData("4G", 4UL << 30)]
    [InlineData("4g", 4UL << 30)]
    [InlineData("512M", 512UL << 20)]
    [InlineData("512", 512UL << 20)] // a bare number is MiB, as QEMU's -m
    [InlineData("64K", 64UL << 10)]
    [InlineData("1T", 1UL << 40)]
    [InlineData("4096B", 4096UL)]
    [InlineData("2GB", 2UL << 30)]
    public void RamSizes(string text, ulong expected)
    {
        Assert.True(QtestNumbers.TryParseRamSize(text, out ulong v, out string error), error);
        Assert.Equal(expected, v);
    }

    [Theory]
    [InlineData("0", "non-zero multiple of 4 KiB")]
    [InlineData("4097B", "non-zero multiple of 4 KiB")]
    [InlineData("12X", "is not a size")]
    [InlineData("G", "is not a size")]
    [InlineData("-4G", "is not a size")]
    [InlineData("99999999999T", "does not fit in 64 bits")]
    public void BadRamSizes(string text, string reason)
    {
        Assert.False(QtestNumbers.TryParseRamSize(text, out _, out string error));
        Assert.Contains(reason, error);
    }

    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    [Theory]
    [InlineData(new[] { "qtest", "--aw-bits", "40" }, "QEMU's intel-iommu accepts 39 or 48")]
    [InlineData(new[] { "qtest", "--ram-size", "lots" }, "RAM size 'lots' is not a size")]
    [InlineData(new[] { "qtest", "--profile", "nonesuch" }, "unknown profile 'nonesuch'")]
    [InlineData(new[] { "qtest", "--socket", "/tmp/x", "--tcp", "0" }, "choose one of --socket and --tcp")]
    [InlineData(new[] { "qtest", "--tcp", "70000" }, "0 to 65535")]
    public void BadCommandLinesAreClearErrorsBeforeAnythingIsServed(string[] args, string message)
    {
        var (exit, text) = Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(message, text);
    }

    [Fact]
    public void HelpShowsTheQemuStyleOptions()
    {
        var (exit, text) = Run("qtest", "--help");
        Assert.Equal(0, exit);
        foreach (string option in new[] { "--profile", "--aw-bits", "--scalable-mode", "--caching-mode", "--snoop-control", "--ram-size", "--socket", "--tcp" })
            Assert.Contains(option, text);
    }
}
