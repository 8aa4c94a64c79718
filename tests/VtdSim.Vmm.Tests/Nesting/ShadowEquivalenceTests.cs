using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// Issue 10's "for the same guest tables and the same DMAs, nesting and shadowing give the same bytes and the same
/// guest-visible faults" (decision N36): the same guest operations on a nesting VMM (x-flts) and on a shadowing VMM
/// (a second-stage vIOMMU with caching mode) give byte-identical DMA results, and every DMA the guest's mappings refuse
/// reaches the guest as one fault recorded in its vIOMMU for the same device, IOVA page and access (N36, N47, N50).
/// The reason code is not compared: each vIOMMU reports what its own walk would (a first-stage domain's SFS/SGN code
/// against a second-stage domain's SSS/SGN code), as two real vIOMMUs would.
/// </summary>
public class ShadowEquivalenceTests
{
    private const ulong Iova = 0x100_0000;
    private const int Slots = 4, Pages = 4;

    private enum Op { MapRw, MapRo, Unmap, Read, Write }

    private readonly record struct Step(Op Op, int Slot, int Page, int Offset, ulong Value);

    private static readonly Gen<Step> StepGen =
        Gen.Select(Gen.Enum<Op>(), Gen.Int[0, Slots - 1], Gen.Int[0, Pages - 1], Gen.Int[0, 511], Gen.ULong,
            (op, slot, page, offset, value) => new Step(op, slot, page, offset * 8, value));

    /// <summary>A guest kernel on one VMM with a process, its iommufd, the device attached and a pool of pages.</summary>
    private sealed record Side(Vmm Vmm, ProcessAddressSpace App, IommufdContext Fd, uint Ioas, Uva Pool, SourceId Device, List<FaultEvent> GuestFaults)
    {
        public static Side Start(string properties)
        {
            Vmm vmm = Vmm.Start(Host(BuiltInProfiles.SapphireRapids), Options(properties: properties));
            Assert.Equal(VmmState.Running, vmm.State);
            GuestUser user = MapForDevice(vmm, 0x4000_0000, 0x1000); // boots the guest, binds and attaches the device
            Assert.Equal(Errno.Success, user.App.Mmap(Pages * 0x1000UL, MemoryProtection.ReadWrite, out Uva pool));
            for (int i = 0; i < Pages * 512; i++) Assert.Equal(Errno.Success, user.App.Write64(pool + 8UL * (ulong)i, 0x0101_0101_0000_0000UL * (ulong)(i / 512 + 1) + (ulong)i));
            var faults = new List<FaultEvent>(); // what the vIOMMU records, as the guest's DMAR handler reads it
            vmm.VIommu!.Events.Raised += e => { if (e is FaultEvent f) faults.Add(f); };
            return new Side(vmm, user.App, user.Fd, user.Ioas, pool, user.Device, faults);
        }

        public string Apply(in Step s)
        {
            ulong iova = Iova + (ulong)s.Slot * 0x1000;
            switch (s.Op)
            {
                case Op.MapRw:
                case Op.MapRo:
                {
                    var flags = IoasMapFlags.Readable | IoasMapFlags.FixedIova | (s.Op == Op.MapRw ? IoasMapFlags.Writeable : 0);
                    ulong at = iova;
                    return Fd.IoasMap(Ioas, flags, Pool + (ulong)s.Page * 0x1000, 0x1000, ref at).ToString();
                }
                case Op.Unmap:
                {
                    ulong length = 0x1000;
                    return Fd.IoasUnmap(Ioas, iova, ref length) + " " + length;
                }
                case Op.Read:
                {
                    var bytes = new byte[8];
                    int before = GuestFaults.Count;
                    DmaTransferResult r = Vmm.GuestMachine.Dma.Read(new DmaRequest(Device, new Iova(iova + (ulong)s.Offset), DmaAccess.Read), bytes);
                    return r.Completed ? $"read {BitConverter.ToUInt64(bytes):x}" : Faulted(r, before);
                }
                default:
                {
                    int before = GuestFaults.Count;
                    DmaTransferResult r = Vmm.GuestMachine.Dma.Write(new DmaRequest(Device, new Iova(iova + (ulong)s.Offset), DmaAccess.Write), BitConverter.GetBytes(s.Value));
                    return r.Completed ? "written" : Faulted(r, before);
                }
            }
        }

        /// <summary>
        /// A refused DMA as the guest sees it: the faults its vIOMMU recorded during the DMA (device, IOVA page, access,
        /// recorded or not). Exactly one is expected.
        /// </summary>
        private string Faulted(DmaTransferResult r, int before)
        {
            if (r.Fault is null) return $"error {r.MemoryError}";
            var seen = GuestFaults.Skip(before)
                .Select(e => $"{e.Fault.Request.Source} {e.Fault.FaultAddress} {e.Fault.Request.Access} {e.Disposition}");
            return "faulted: " + string.Join("; ", seen);
        }

        public byte[] PoolBytes()
        {
            var bytes = new byte[Pages * 0x1000];
            Assert.Equal(Errno.Success, App.Read(Pool, bytes));
            return bytes;
        }
    }

    /// <summary>What a DMA through the guest's own mappings gives, from the operations alone (not from either VMM).</summary>
    private static string Expected(in Step s, Dictionary<int, (int Page, bool ReadOnly)> mapped, byte[] pool, SourceId device)
    {
        ulong page = Iova + (ulong)s.Slot * 0x1000;
        string Fault(DmaAccess access) => $"faulted: {device} {new Iova(page)} {access} {FaultDisposition.Recorded}";
        bool there = mapped.TryGetValue(s.Slot, out var m);
        int at = m.Page * 0x1000 + s.Offset;
        switch (s.Op)
        {
            case Op.MapRw:
            case Op.MapRo:
                if (there) return "EEXIST";
                mapped[s.Slot] = (s.Page, s.Op == Op.MapRo);
                return "Success";
            case Op.Unmap:
                return mapped.Remove(s.Slot) ? "Success 4096" : "ENOENT 4096";
            case Op.Read:
                return there ? $"read {BitConverter.ToUInt64(pool, at):x}" : Fault(DmaAccess.Read);
            default:
                if (!there || m.ReadOnly) return Fault(DmaAccess.Write);
                BitConverter.GetBytes(s.Value).CopyTo(pool, at);
                return "written";
        }
    }

    [Fact]
    public void NestingAndShadowingGiveTheSameBytesAndTheSameFaultsForAnyGuestMapSequence()
    {
        PropertyRunner.Run(StepGen.Array[4, 24], steps =>
        {
            Side nested = Side.Start(Properties);                  // x-scalable-mode=on,x-flts=on,caching-mode=on
            Side shadowed = Side.Start(ShadowingTests.Scalable);   // x-scalable-mode=on,caching-mode=on
            Assert.Equal(VtdSim.Vmm.Nesting.NestingAttachment.FirstStage, Assert.Single(nested.Vmm.NestingBindings).Attachment);
            Assert.True(Assert.Single(shadowed.Vmm.ShadowBindings).Active);
            byte[] pool = nested.PoolBytes(); // what the guest's pages hold, kept from the guest's mappings alone
            Assert.Equal(pool, shadowed.PoolBytes());
            var mapped = new Dictionary<int, (int Page, bool ReadOnly)>();
            foreach (Step s in steps)
            {
                string n = nested.Apply(in s), sh = shadowed.Apply(in s);
                Assert.True(n == sh, $"{s}: nesting {n}, shadowing {sh}");
                Assert.Equal(Expected(s, mapped, pool, nested.Device), n);
                // Then every slot is read, so a stale or missing mapping shows at once.
                for (int slot = 0; slot < Slots; slot++)
                {
                    var probe = new Step(Op.Read, slot, 0, s.Offset, 0);
                    n = nested.Apply(in probe);
                    sh = shadowed.Apply(in probe);
                    Assert.True(n == sh, $"after {s}, {probe}: nesting {n}, shadowing {sh}");
                    Assert.Equal(Expected(probe, mapped, pool, nested.Device), n);
                }
            }
            Assert.Equal(pool, nested.PoolBytes());
            Assert.Equal(pool, shadowed.PoolBytes());
            Assert.Empty(nested.Vmm.Log.Lines);
            Assert.Empty(shadowed.Vmm.Log.Lines);
        }, seed: 0x36, iterations: 8, print: steps => string.Join(", ", steps));
    }
}
