using System.Collections;
using VtdSim.Hardware.Addressing;

namespace VtdSim.Kernel.Process;

/// <summary>
/// Physically contiguous pinned pages inside one folio: 4 KiB pages [FirstPage, FirstPage + PageCount) of
/// <see cref="Folio"/>. pin_user_pages hands back runs instead of a page per 4 KiB (one run per folio it meets), so a
/// 1 GiB huge page is one run, and unpinning drops the run's pins from its folio at once.
/// </summary>
public readonly record struct PinnedRun(PageFrame Folio, uint FirstPage, uint PageCount)
{
    public Hpa Address => Folio.Address + FirstPage * PageFrame.PageSize;
    public ulong Length => PageCount * PageFrame.PageSize;

    public override string ToString() => $"{Address}+0x{Length:x}";
}

/// <summary>The host page behind each 4 KiB of a sequence of runs, computed on demand (a 1 TiB range has 2^28 of them).</summary>
public sealed class PinnedRunPages : IReadOnlyList<Hpa>
{
    private readonly IReadOnlyList<PinnedRun> _runs;
    private readonly ulong[] _starts; // index of each run's first page in the sequence

    public PinnedRunPages(IReadOnlyList<PinnedRun> runs)
    {
        _runs = runs;
        _starts = new ulong[runs.Count];
        ulong pages = 0;
        for (int i = 0; i < runs.Count; i++)
        {
            _starts[i] = pages;
            pages += runs[i].PageCount;
        }
        LongCount = pages;
    }

    public ulong LongCount { get; }
    public int Count => LongCount <= int.MaxValue ? (int)LongCount : throw new InvalidOperationException($"{LongCount} pages do not fit an int count");

    public Hpa this[int index] => At((ulong)index);

    public Hpa At(ulong index)
    {
        var (run, offset) = Locate(index);
        return _runs[run].Address + offset * PageFrame.PageSize;
    }

    /// <summary>The run holding page <paramref name="index"/> of the sequence, and the page's offset in that run.</summary>
    public (int Run, ulong Offset) Locate(ulong index)
    {
        if (index >= LongCount) throw new ArgumentOutOfRangeException(nameof(index));
        int run = Array.BinarySearch(_starts, index);
        if (run < 0) run = ~run - 1;
        return (run, index - _starts[run]);
    }

    public IEnumerator<Hpa> GetEnumerator()
    {
        foreach (var run in _runs)
        {
            for (ulong i = 0; i < run.PageCount; i++) yield return run.Address + i * PageFrame.PageSize;
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
