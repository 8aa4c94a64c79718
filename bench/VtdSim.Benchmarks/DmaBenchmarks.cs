using BenchmarkDotNet.Attributes;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Translation;

namespace VtdSim.Benchmarks;

/// <summary>(c) A 4 KiB device read and write through the nested 4x4 setup: one translation plus a page copy.</summary>
[MemoryDiagnoser]
public class DmaBenchmarks
{
    private TranslationSetup _nested = null!;
    private DmaRequest _read, _write;
    private readonly byte[] _buffer = new byte[PhysicalMemory.PageSize];

    [GlobalSetup]
    public void Setup()
    {
        _nested = new TranslationSetup(WalkShape.Nested4x4);
        _read = _nested.ReadRequest;
        _write = _nested.WriteRequest;
        for (int i = 0; i < _buffer.Length; i++) _buffer[i] = (byte)i;
    }

    [Benchmark(Description = "DmaRead 4 KiB nested 4x4")]
    public int DmaRead4K()
    {
        var r = _nested.Unit.DmaRead(in _read, _buffer);
        return r.BytesTransferred + _buffer[100];
    }

    [Benchmark(Description = "DmaWrite 4 KiB nested 4x4")]
    public int DmaWrite4K() => _nested.Unit.DmaWrite(in _write, _buffer).BytesTransferred;
}
