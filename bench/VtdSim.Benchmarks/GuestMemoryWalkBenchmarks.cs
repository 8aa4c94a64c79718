using BenchmarkDotNet.Attributes;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Benchmarks;

/// <summary>
/// The uncached nested 4x4 setup with the unit over a <see cref="Hardware.Memory.GuestMemory"/> view (identity-offset
/// resolver onto a host memory), as a vIOMMU walks guest tables: the walk alone, the full Translate, and a 64-byte DMA
/// read, each beside the same operation on the host memory. The view's frames come from its own frame cache, so after
/// the first walk no resolver is asked.
/// </summary>
[MemoryDiagnoser]
public class GuestMemoryWalkBenchmarks
{
    private TranslationSetup _host = null!, _view = null!;
    private ResolvedContext _hostCtx, _viewCtx;
    private DmaRequest _hostRead, _viewRead;
    private readonly byte[] _buffer = new byte[64];

    [GlobalSetup]
    public void Setup()
    {
        _host = new TranslationSetup(WalkShape.Nested4x4);
        _view = new TranslationSetup(WalkShape.Nested4x4, guestView: true);
        _hostCtx = _host.ResolveContext();
        _viewCtx = _view.ResolveContext();
        _hostRead = _host.ReadRequest;
        _viewRead = _view.ReadRequest;
    }

    [Benchmark(Description = "Walk nested 4x4, GuestMemory view")]
    public ulong WalkNestedView()
    {
        _view.Engine.Walk(in _viewRead, in _viewCtx, null, out Hpa hpa, out _, out _);
        return hpa.Value;
    }

    [Benchmark(Description = "Translate nested 4x4, GuestMemory view")]
    public ulong TranslateNestedView() => _view.Unit.Translate(in _viewRead).Address.Value;

    [Benchmark(Description = "DmaRead 64 B nested 4x4, host memory")]
    public int DmaRead64Host() => _host.Unit.DmaRead(in _hostRead, _buffer).BytesTransferred + _buffer[7];

    [Benchmark(Description = "DmaRead 64 B nested 4x4, GuestMemory view")]
    public int DmaRead64View() => _view.Unit.DmaRead(in _viewRead, _buffer).BytesTransferred + _buffer[7];
}
