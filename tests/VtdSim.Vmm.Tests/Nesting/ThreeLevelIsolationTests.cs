using CsCheck;
using Xunit.Abstractions;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// Isolation over three levels (issue 10, decision N62): random operations at every level — maps and unmaps in L0's,
/// L1's and L2's iommufd (each a guest table change with its invalidations, shadowed by L1's VMM and forwarded by
/// L0's), DMAs by the passthrough
/// device in L2, by an emulated function in L1 (through the L0 vIOMMU) and by a host function in L0. Whatever the
/// sequence, a DMA write reaches exactly the host frame of the page the level above mapped at its address, writable,
/// and nothing else; any other DMA write is refused and writes nothing; a read returns the bytes held there.
/// </summary>
public class ThreeLevelIsolationTests(ITestOutputHelper output)
{
    /// <summary>Operations per CI run; VTDSIM_THREE_LEVEL_OPS overrides it (the 10 M run in docs/performance.md).</summary>
    private const int DefaultOperations = 1_000_000;
    private const int Cases = 4;
    private const int Pages = 16;          // each level's buffer
    private const int Slots = 24;          // IOVA pages each level maps into (some never mapped: refused DMAs)
    private const ulong IovaBase = 0x100_0000;
    private static readonly SourceId L1Edu = new(0, 5, 0);

    private enum Op { L2Map, L2Unmap, L2Dma, L1Map, L1Unmap, L1Dma, L0Map, L0Unmap, L0Dma }

    private readonly record struct Step(Op Op, int Slot, int Page, int Offset, bool Write);

    // DMAs are half the operations: they are what the invariant is checked on. (PAM and other memory-map changes are
    // left to RecursionTests: each rebuilds flat views at two levels, a thousand times a DMA's cost.)
    private static readonly Gen<Op> OpGen = Gen.Frequency(
        (4, Gen.Const(Op.L2Map)), (3, Gen.Const(Op.L2Unmap)), (10, Gen.Const(Op.L2Dma)),
        (3, Gen.Const(Op.L1Map)), (2, Gen.Const(Op.L1Unmap)), (7, Gen.Const(Op.L1Dma)),
        (3, Gen.Const(Op.L0Map)), (2, Gen.Const(Op.L0Unmap)), (7, Gen.Const(Op.L0Dma)));

    private static readonly Gen<Step> StepGen =
        Gen.Select(OpGen, Gen.Int[0, Slots - 1], Gen.Int[0, Pages - 1], Gen.Int[0, 511], Gen.Bool, (o, s, p, off, w) => new Step(o, s, p, off * 8, w));

    [Fact]
    public void NoDmaAtAnyOfThreeLevelsReachesMemoryOutsideWhatTheLevelAboveMappedForIt()
    {
        int total = int.TryParse(Environment.GetEnvironmentVariable("VTDSIM_THREE_LEVEL_OPS"), out int n) && n > 0 ? n : DefaultOperations;
        int perCase = (total + Cases - 1) / Cases;
        var wall = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        PropertyRunner.Run(StepGen.Array[perCase, perCase], steps => new Run().Check(steps),
            seed: 0x312, iterations: Cases, print: steps => $"{steps.Length} steps: " + string.Join(", ", steps.Take(64)), shrinkIterations: 4);
        // Reported, never asserted: docs/performance.md records these for the CI size and the 10 M run.
        cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu;
        output.WriteLine($"{(long)perCase * Cases} operations in {Cases} runs, seed 0x312: {wall.Elapsed.TotalSeconds:F1} s wall, {cpu.TotalSeconds:F1} s CPU");
    }

    /// <summary>One user of one level's iommufd: a process, its buffer (page → host frame), and what it mapped where.</summary>
    private sealed class Level(string name, ProcessAddressSpace app, IommufdContext fd, uint ioas, Uva buffer, Hpa[] frames, SourceId device, IDmaPort port)
    {
        public readonly Dictionary<int, (int Page, bool Writable)> Mapped = [];
        public string Name => name;
        public ProcessAddressSpace App => app;
        public IommufdContext Fd => fd;
        public uint Ioas => ioas;
        public Uva Buffer => buffer;
        public Hpa[] Frames => frames;
        public SourceId Device => device;
        public IDmaPort Port => port;
    }

    private sealed class Run
    {
        private readonly ThreeLevels levels;
        private readonly Level l0, l1, l2;
        private readonly List<MemoryWrite> written = [];

        public Run()
        {
            levels = ThreeLevels.Start(BuiltInProfiles.SapphireRapids, l2Iommu: "x-scalable-mode=on,caching-mode=on,aw-bits=39",
                l1Functions: [new PciFunction(L1Edu, "edu")]);
            Assert.True(levels.L2.State == VmmState.Running, levels.L2.Log.ToString());
            LinuxKernel host = levels.Host;
            l0 = Open("L0", host, Gpu, host.Machine.Dma, null);
            l1 = Open("L1", levels.L1Kernel, L1Edu, levels.L1.GuestMachine.Dma, levels.L1);
            l2 = Open("L2", BootGuest(levels.L2), levels.L2Device, levels.L2.GuestMachine.Dma, levels.L2);
        }

        /// <summary>A process on <paramref name="kernel"/> with a buffer, the device bound and attached to an IOAS of its own.</summary>
        private Level Open(string name, LinuxKernel kernel, SourceId device, IDmaPort port, Vmm? vmm)
        {
            ProcessAddressSpace app = kernel.CreateProcess("app-" + name);
            IommufdContext fd = kernel.OpenIommufd(app);
            Assert.Equal(Errno.Success, fd.DeviceBind(device, out uint dev));
            Assert.Equal(Errno.Success, fd.IoasAlloc(0, out uint ioas));
            uint pt = ioas;
            Assert.Equal(Errno.Success, fd.DeviceAttach(dev, ref pt));
            Assert.Equal(Errno.Success, app.Mmap(Pages * 0x1000, MemoryProtection.ReadWrite, out Uva buffer));
            var frames = new Hpa[Pages];
            for (int p = 0; p < Pages; p++)
            {
                Uva va = buffer + (ulong)p * 0x1000;
                Assert.Equal(Errno.Success, app.Write64(va, (ulong)p)); // resident from here on
                frames[p] = HostFrame(vmm, app, va);
            }
            return new Level(name, app, fd, ioas, buffer, frames, device, port);
        }

        /// <summary>The host frame behind a process's page: its own page table, then each VMM below (L2's, then L1's).</summary>
        private Hpa HostFrame(Vmm? vmm, ProcessAddressSpace app, Uva va)
        {
            if (vmm is null) return app.Translate(va)!.Value;
            Hpa inGuest = app.Translate(va)!.Value;
            for (Vmm? v = vmm; v is not null; v = v == levels.L2 ? levels.L1 : null)
                inGuest = HostAddressOf(v, new Gpa(inGuest.Value));
            return inGuest;
        }

        public void Check(Step[] steps)
        {
            MachineMemory memory = levels.Host.Machine.Memory;
            using IDisposable watch = memory.ObserveWrites(new Hpa(0), memory.Size, w =>
            {
                if (w.Origin == WriteOrigin.Dma) written.Add(w);
            });
            var bytes = new byte[8];
            foreach (Step s in steps)
            {
                written.Clear();
                switch (s.Op)
                {
                    case Op.L2Map: Map(l2, s); break;
                    case Op.L2Unmap: Unmap(l2, s); break;
                    case Op.L2Dma: Dma(l2, s, bytes); break;
                    case Op.L1Map: Map(l1, s); break;
                    case Op.L1Unmap: Unmap(l1, s); break;
                    case Op.L1Dma: Dma(l1, s, bytes); break;
                    case Op.L0Map: Map(l0, s); break;
                    case Op.L0Unmap: Unmap(l0, s); break;
                    case Op.L0Dma: Dma(l0, s, bytes); break;
                }
            }
            Assert.Equal(VmmState.Running, levels.L1.State);
            Assert.Equal(VmmState.Running, levels.L2.State);
            Assert.Empty(levels.L1.Log.Lines);
            Assert.Empty(levels.L2.Log.Lines);
            l2.Fd.Close();
            l1.Fd.Close();
            l0.Fd.Close();
            levels.Quit();
        }

        private static ulong Iova(int slot) => IovaBase + (ulong)slot * 0x1000;

        private static void Map(Level level, in Step s)
        {
            ulong at = Iova(s.Slot);
            IoasMapFlags flags = IoasMapFlags.Readable | IoasMapFlags.FixedIova | (s.Write ? IoasMapFlags.Writeable : 0);
            Errno e = level.Fd.IoasMap(level.Ioas, flags, level.Buffer + (ulong)s.Page * 0x1000, 0x1000, ref at);
            Assert.Equal(level.Mapped.ContainsKey(s.Slot) ? Errno.EEXIST : Errno.Success, e);
            if (e == Errno.Success) level.Mapped[s.Slot] = (s.Page, s.Write);
        }

        private static void Unmap(Level level, in Step s)
        {
            ulong length = 0x1000;
            Errno e = level.Fd.IoasUnmap(level.Ioas, Iova(s.Slot), ref length);
            Assert.Equal(level.Mapped.Remove(s.Slot) ? Errno.Success : Errno.ENOENT, e);
        }

        private void Dma(Level level, in Step s, byte[] bytes)
        {
            // Slots up to Slots + 1: the two past the end are never mapped.
            int slot = s.Slot + (s.Page >= Pages - 2 ? 2 : 0);
            ulong iova = Iova(slot) + (ulong)s.Offset;
            bool mapped = level.Mapped.TryGetValue(slot, out var m);
            if (s.Write)
            {
                ulong value = ((ulong)s.Slot << 32) | (uint)s.Offset;
                DmaTransferResult r = level.Port.Write(new DmaRequest(level.Device, new Iova(iova), DmaAccess.Write), BitConverter.GetBytes(value));
                bool allowed = mapped && m.Writable;
                if (r.Completed != allowed) Assert.Fail($"{level.Name} DMA write at 0x{iova:x}: {(allowed ? "refused" : "completed")} ({r})");
                if (allowed)
                {
                    var expected = new MemoryWrite(level.Frames[m.Page] + (ulong)s.Offset, 8, WriteOrigin.Dma);
                    if (written.Count != 1 || written[0] != expected) Assert.Fail($"{level.Name} DMA write at 0x{iova:x} wrote [{string.Join(", ", written)}], not {expected}");
                }
                else if (written.Count != 0) Assert.Fail($"{level.Name} refused DMA write at 0x{iova:x} wrote [{string.Join(", ", written)}]");
            }
            else
            {
                DmaTransferResult r = level.Port.Read(new DmaRequest(level.Device, new Iova(iova), DmaAccess.Read), bytes);
                if (r.Completed != mapped) Assert.Fail($"{level.Name} DMA read at 0x{iova:x}: {(mapped ? "refused" : "completed")} ({r})");
                if (mapped)
                {
                    Assert.Equal(Errno.Success, level.App.Read64(level.Buffer + (ulong)m.Page * 0x1000 + (ulong)s.Offset, out ulong held));
                    if (BitConverter.ToUInt64(bytes) != held) Assert.Fail($"{level.Name} DMA read at 0x{iova:x}: 0x{BitConverter.ToUInt64(bytes):x}, the page holds 0x{held:x}");
                }
            }
        }
    }
}
