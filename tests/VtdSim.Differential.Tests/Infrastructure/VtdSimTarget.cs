using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Translation;
using VtdSim.Machine;

namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// VtdSim: a <see cref="PhysicalMachine"/> host with the profile's VT-d unit, and edu-like devices that own a 4 KiB buffer
/// each and DMA through the machine's port. The device model copies what QEMU's edu + memory core do, so that only the
/// IOMMUs differ: a transfer is issued page by page and does not stop at a fault (QEMU translates each page and goes
/// on); a page that faults, or that translates to an address no memory answers, reads as zeros and is not written.
/// </summary>
public sealed class VtdSimTarget : IVtdTarget
{
    private readonly PhysicalMachine _machine;
    private readonly byte[][] _buffers;

    public VtdSimTarget(TargetConfig config)
    {
        Config = config;
        _machine = PhysicalMachine.Host(config.Profile, TargetConfig.RamSize);
        _buffers = Enumerable.Range(0, config.Devices).Select(_ => new byte[Edu.BufferSize]).ToArray();
    }

    public TargetConfig Config { get; }
    public string Name => $"VtdSim {Config.Profile.Name}";
    public PhysicalMachine Machine => _machine;
    public VtdUnit Unit => _machine.HardwareIommu!;

    /// <summary>The result of every page transfer, in order (for diagnostics).</summary>
    public List<DmaTransferResult> Transfers { get; } = new();

    public void WriteMem(ulong address, ReadOnlySpan<byte> bytes) => _machine.Memory.Write(new Hpa(address), bytes);

    public byte[] ReadMem(ulong address, int length)
    {
        var bytes = new byte[length];
        _machine.Memory.Read(new Hpa(address), bytes);
        return bytes;
    }

    public uint Read32(int offset) => (uint)_machine.Read(_machine.IommuBase + (ulong)offset, 4);
    public ulong Read64(int offset) => _machine.Read(_machine.IommuBase + (ulong)offset, 8);
    public void Write32(int offset, uint value) => _machine.Write(_machine.IommuBase + (ulong)offset, 4, value);
    public void Write64(int offset, ulong value) => _machine.Write(_machine.IommuBase + (ulong)offset, 8, value);

    public void Dma(EduDirection direction, ulong iova, int length, int bufferOffset = 0, int device = 0)
    {
        Edu.CheckBuffer(bufferOffset, length, device);
        if (device >= Config.Devices) throw new ArgumentOutOfRangeException(nameof(device), device, $"this machine has {Config.Devices} edu device(s)");
        Span<byte> buffer = _buffers[device].AsSpan(bufferOffset, length);
        var source = new SourceId(Edu.SourceId(device));
        for (int done = 0; done < length;)
        {
            ulong address = iova + (ulong)done;
            int chunk = (int)Math.Min((ulong)(length - done), 4096 - (address & 0xFFF));
            Span<byte> part = buffer.Slice(done, chunk);
            if (direction == EduDirection.FromRam)
            {
                var result = _machine.Dma.Read(new DmaRequest(source, new Iova(address), DmaAccess.Read), part);
                Transfers.Add(result);
                if (!result.Completed) part[result.BytesTransferred..].Clear(); // an unanswered read returns zeros
            }
            else
            {
                Transfers.Add(_machine.Dma.Write(new DmaRequest(source, new Iova(address), DmaAccess.Write), part));
            }
            done += chunk;
        }
    }

    public void Dispose()
    {
    }
}
