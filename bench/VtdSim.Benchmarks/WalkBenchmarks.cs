using BenchmarkDotNet.Attributes;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Benchmarks;

/// <summary>
/// (a) The uncached paging walk alone: TranslationEngine.Walk with a context resolved once in setup. Tables are warm,
/// so no A/D update happens: this times only the paging references and their checks.
/// (b) The full VtdUnit.Translate for the same three shapes: request validation, root/context (and PASID directory and
/// table) lookups, then the same walk.
/// </summary>
[MemoryDiagnoser]
public class WalkBenchmarks
{
    private TranslationSetup _legacy = null!, _firstStage = null!, _nested = null!;
    private ResolvedContext _legacyCtx, _firstStageCtx, _nestedCtx;
    private DmaRequest _legacyRead, _firstStageRead, _nestedRead;
    private const int ChainLength = 16;
    private ulong _zero; // set to 0 in Setup; a field, so the JIT cannot know it is 0

    [GlobalSetup]
    public void Setup()
    {
        _legacy = new TranslationSetup(WalkShape.Legacy4);
        _firstStage = new TranslationSetup(WalkShape.FirstStage4);
        _nested = new TranslationSetup(WalkShape.Nested4x4);
        _legacyCtx = _legacy.ResolveContext();
        _firstStageCtx = _firstStage.ResolveContext();
        _nestedCtx = _nested.ResolveContext();
        _legacyRead = _legacy.ReadRequest;
        _firstStageRead = _firstStage.ReadRequest;
        _nestedRead = _nested.ReadRequest;
        _zero = 0;
    }

    [Benchmark(Description = "Walk legacy SL 4-level")]
    public ulong WalkLegacy4() => Walk(_legacy, in _legacyRead, in _legacyCtx);

    [Benchmark(Description = "Walk first-stage 4-level")]
    public ulong WalkFirstStage4() => Walk(_firstStage, in _firstStageRead, in _firstStageCtx);

    [Benchmark(Description = "Walk nested 4x4 (24 refs)")]
    public ulong WalkNested4x4() => Walk(_nested, in _nestedRead, in _nestedCtx);

    /// <summary>
    /// The nested walk again, but each walk's input depends on the previous walk's output (through a mask that is
    /// zero at run time), so walks cannot overlap in the CPU: the latency figure, to set beside bench/c's "chained".
    /// </summary>
    [Benchmark(OperationsPerInvoke = ChainLength, Description = "Walk nested 4x4, chained")]
    public ulong WalkNested4x4Chained()
    {
        ulong baseAddress = _nestedRead.Address.Value, output = 0;
        for (int i = 0; i < ChainLength; i++)
        {
            DmaRequest request = _nestedRead with { Address = new Iova(baseAddress + (output & _zero)) };
            _nested.Engine.Walk(in request, in _nestedCtx, null, out Hpa hpa, out _, out _);
            output = hpa.Value;
        }
        return output;
    }

    [Benchmark(Description = "Translate legacy SL 4-level")]
    public ulong TranslateLegacy4() => _legacy.Unit.Translate(in _legacyRead).Address.Value;

    [Benchmark(Description = "Translate first-stage 4-level")]
    public ulong TranslateFirstStage4() => _firstStage.Unit.Translate(in _firstStageRead).Address.Value;

    [Benchmark(Description = "Translate nested 4x4")]
    public ulong TranslateNested4x4() => _nested.Unit.Translate(in _nestedRead).Address.Value;

    private static ulong Walk(TranslationSetup setup, in DmaRequest request, in ResolvedContext context)
    {
        setup.Engine.Walk(in request, in context, null, out Hpa output, out ulong pageSize, out AccessRights rights);
        return output.Value ^ pageSize ^ (ulong)rights;
    }
}
