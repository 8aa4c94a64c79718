using System.Text;
using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

// Differential check for performance work on the translation path. Builds seeded random worlds (valid, partly valid
// and garbage root/context/PASID/paging structures, injected memory errors) and sends random requests through
// VtdUnit.Translate, DmaRead and DmaWrite, printing everything observable: results, faults with their explanations,
// every traced memory reference, every memory write and who made it, the events, and a checksum of the tables.
// run.sh runs it against a baseline commit and the working tree and compares the outputs byte for byte.
// Uses only the public API, so it builds against older and newer trees alike.
int worlds = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1000;
var output = new StringBuilder();
for (int w = 0; w < worlds; w++) RunWorld(w, output);
Console.Write(output.ToString());

static void RunWorld(int seed, StringBuilder o)
{
    var rnd = new Random(seed);
    int rare = seed % 3 == 0 ? 1 : 8; // rarity multiplier: 2 of 3 worlds are mostly well-formed, so walks go deep
    VtdProfile arch = BuiltInProfiles.Architectural;
    var profiles = new List<VtdProfile>
    {
        BuiltInProfiles.SapphireRapids,
        arch,
        BuiltInProfiles.SapphireRapids with { Name = "spr-all-levels", ErratumReach = ErratumReach.AllLevels },
        arch with { Name = "no-1g", Cap = arch.Cap.WithSecondStageLargePages(twoMiB: true, oneGiB: false).WithFirstStage1GiBPages(false) },
        arch with { Name = "4k-only", Cap = arch.Cap.WithSecondStageLargePages(twoMiB: false, oneGiB: false).WithFirstStage1GiBPages(false) },
    };
    foreach (var p in new[] { BuiltInProfiles.Qemu72Legacy, BuiltInProfiles.Qemu72Scalable })
    {
        try { p.Validate(); profiles.Add(p); }
        catch (InvalidOperationException) { } // not usable in this tree
    }
    VtdProfile profile = profiles[rnd.Next(profiles.Count)];
    bool scalable = profile.Ecap.ScalableModeTranslation && rnd.Next(4) != 0;
    ulong size = 1UL << 36;
    var mem = new PhysicalMemory(size);
    var unit = new VtdUnit(mem, profile);
    o.AppendLine($"== world {seed} profile {profile.Name} scalable={scalable}");
    var writes = new StringBuilder();
    using var obs = mem.ObserveWrites(new Hpa(0), size, wr => writes.Append($" W{wr.Address.Value:x}/{wr.Length}/{wr.Origin}"));

    // A pool of frames, some in a low region and some high (different cache slots), plus frames reached by pointers.
    int poolSize = 24 + rnd.Next(40);
    var pool = new List<ulong>();
    for (int i = 0; i < poolSize; i++)
    {
        ulong frame = rnd.Next(3) switch
        {
            0 => 0x10_0000UL + (ulong)i * 0x1000,
            1 => 0x1_0000_0000UL + (ulong)rnd.Next(1 << 16) * 0x1000,
            _ => ((ulong)rnd.NextInt64(1L << 24)) << 12,
        };
        if (!pool.Contains(frame)) pool.Add(frame);
    }
    ulong RandomPointer() => rnd.Next(30) switch
    {
        0 when rnd.Next(rare) == 0 => ((ulong)rnd.NextInt64(1L << 40)) << 12 & 0x000F_FFFF_FFFF_F000UL, // maybe beyond memory / HAW
        1 => pool[rnd.Next(pool.Count)] + (ulong)rnd.Next(2) * 0x20_0000,
        _ => pool[rnd.Next(pool.Count)],
    };
    ulong RandomEntry()
    {
        if (rnd.Next(40 * rare) == 0) return (ulong)rnd.NextInt64() ^ ((ulong)rnd.Next() << 40); // garbage
        ulong e = RandomPointer();
        e |= rnd.Next(10 * rare) != 0 ? 1UL : 0;             // P / R
        e |= rnd.Next(3 + 3 * rare) != 0 ? 2UL : 0;          // RW / W
        e |= rnd.Next(3) != 0 ? 4UL : 0;                  // US / X
        e |= rnd.Next(2) == 0 ? 1UL << 5 : 0;             // FS A
        e |= rnd.Next(3) == 0 ? 1UL << 6 : 0;             // FS D / SS IPAT
        e |= rnd.Next(12 * rare) == 0 ? 1UL << 7 : 0;        // PS
        e |= rnd.Next(2) == 0 ? 1UL << 8 : 0;             // SS A / FS G
        e |= rnd.Next(3) == 0 ? 1UL << 9 : 0;             // SS D
        e |= rnd.Next(3) == 0 ? 1UL << 10 : 0;            // FS EA
        e |= rnd.Next(25 * rare) == 0 ? 1UL << 11 : 0;       // SS SNP
        e |= rnd.Next(8) == 0 ? 1UL << 63 : 0;            // XD
        e |= rnd.Next(40 * rare) == 0 ? 1UL << 62 : 0;       // TM
        e |= rnd.Next(40 * rare) == 0 ? 1UL << rnd.Next(46, 52) : 0; // above HAW
        return e;
    }
    foreach (ulong frame in pool)
        for (int i = 0; i < 512; i++)
            if (rnd.Next(4) != 0) mem.Write64(new Hpa(frame + (ulong)i * 8), RandomEntry());

    // Root, context, PASID structures for a few devices.
    var devices = new[] { new SourceId(0, 1, 0), new SourceId(0, 2, 1), new SourceId(3, 0x1f, 7) };
    ulong root = pool[0];
    for (int b = 0; b < 4; b++) { mem.Write64(new Hpa(root + (ulong)b * 16), 0); mem.Write64(new Hpa(root + (ulong)b * 16 + 8), 0); }
    foreach (var dev in devices)
    {
        ulong ctxTable = pool[1 + rnd.Next(3)];
        ulong lo = ctxTable | 1, hi = scalable ? (rnd.Next(2) == 0 ? ctxTable | 1 : 0) : 0;
        if (rnd.Next(15 * rare) == 0) lo |= 1UL << rnd.Next(1, 12);
        if (rnd.Next(15 * rare) == 0) lo &= ~1UL;
        mem.Write64(new Hpa(root + (ulong)dev.Bus * 16), lo);
        mem.Write64(new Hpa(root + (ulong)dev.Bus * 16 + 8), hi);
        ulong ssRoot = RandomPointer(), fsRoot = RandomPointer();
        int aw = rnd.Next(8) == 0 ? rnd.Next(4) : (rnd.Next(4) == 0 ? 3 : 2);
        if (!scalable)
        {
            ulong tt = (ulong)(rnd.Next(6) switch { 0 => 1, 1 => 2, 2 => 3, _ => 0 });
            ulong clo = (ssRoot & ~0xFFFUL) | (tt << 2) | (rnd.Next(12) != 0 ? 1UL : 0) | (rnd.Next(10) == 0 ? 2UL : 0);
            ulong chi = (uint)aw | ((ulong)(uint)rnd.Next(100) << 8);
            if (rnd.Next(20) == 0) chi |= 1UL << 7;
            mem.Write64(new Hpa(ctxTable + (ulong)dev.DevFn * 16), clo);
            mem.Write64(new Hpa(ctxTable + (ulong)dev.DevFn * 16 + 8), chi);
            continue;
        }
        ulong dir = pool[4 + rnd.Next(3)];
        ulong q0 = dir | ((ulong)rnd.Next(8) << 9) | (rnd.Next(12 * rare) != 0 ? 1UL : 0) | (rnd.Next(3) != 0 ? 8UL : 0)
            | (rnd.Next(10) == 0 ? 2UL : 0) | (rnd.Next(10 * rare) == 0 ? 4UL : 0) | (rnd.Next(30 * rare) == 0 ? 1UL << 5 : 0);
        ulong q1 = (uint)(rnd.Next(4) == 0 ? rnd.Next(4) : 0) | (rnd.Next(6) == 0 ? 1UL << 20 : 0) | (rnd.Next(30 * rare) == 0 ? 1UL << 30 : 0);
        ulong cAddr = ctxTable + (ulong)(dev.DevFn & 0x7F) * 32;
        mem.Write64(new Hpa(cAddr), q0); mem.Write64(new Hpa(cAddr + 8), q1);
        mem.Write64(new Hpa(cAddr + 16), rnd.Next(30 * rare) == 0 ? 1UL : 0); mem.Write64(new Hpa(cAddr + 24), 0);
        ulong pt = pool[7 + rnd.Next(3)];
        mem.Write64(new Hpa(dir), pt | (rnd.Next(12) != 0 ? 1UL : 0) | (rnd.Next(12) == 0 ? 2UL : 0) | (rnd.Next(30) == 0 ? 4UL : 0));
        for (int pasid = 0; pasid < 4; pasid++)
        {
            ulong pgtt = (ulong)(rnd.Next(10 + 2 * rare) switch { 0 => 1, 1 => 2, 2 => 4, 3 when rare == 1 => 0, 4 when rare == 1 => 5, 5 => 3, 6 => 3, 7 => 3, 8 => 1, _ => 3 });
            ulong e0 = (ssRoot & ~0xFFFUL) | (pgtt << 6) | ((ulong)aw << 2) | (rnd.Next(12) != 0 ? 1UL : 0)
                | (rnd.Next(10) == 0 ? 2UL : 0) | (rnd.Next(4) == 0 ? 1UL << 5 : 0) | (rnd.Next(3) == 0 ? 1UL << 9 : 0) | (rnd.Next(40 * rare) == 0 ? 1UL << 10 : 0);
            ulong e1 = (uint)rnd.Next(50) | (rnd.Next(6) != 0 ? 1UL << 23 : 0) | (rnd.Next(20) == 0 ? 1UL << 24 : 0) | (rnd.Next(40 * rare) == 0 ? 1UL << 17 : 0);
            ulong e2 = (fsRoot & ~0xFFFUL) | (rnd.Next(2) == 0 ? 1UL : 0) | (rnd.Next(3) == 0 ? 2UL : 0) | (rnd.Next(5) == 0 ? 4UL : 0)
                | (rnd.Next(3) == 0 ? 1UL << 4 : 0) | (rnd.Next(3) == 0 ? 1UL << 7 : 0) | (rnd.Next(40 * rare) == 0 ? 1UL << 9 : 0);
            ulong pAddr = pt + (ulong)pasid * 64;
            ulong[] q = [e0, e1, e2, rnd.Next(40 * rare) == 0 ? 1UL : 0, 0, 0, 0, rnd.Next(60 * rare) == 0 ? 2UL : 0];
            for (int w8 = 0; w8 < 8; w8++) mem.Write64(new Hpa(pAddr + (ulong)w8 * 8), q[w8]);
        }
    }
    ulong rtaddr = root | (scalable ? 1UL << 10 : 0);
    if (rnd.Next(30 * rare) == 0) rtaddr |= 3UL << 10;
    unit.WriteRegister64(RegisterOffset.RTADDR, rtaddr);
    unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.SetRootTablePointer);
    unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.TranslationEnable);

    // Requests: a few IOVAs, each asked several times (so flags settle), with errors injected now and then.
    var iovas = new List<ulong>();
    for (int i = 0; i < 6; i++)
    {
        ulong iova = (ulong)rnd.NextInt64(1L << 47) & ~0xFFFUL;
        if (rnd.Next(20) == 0) iova |= 0xFFFF_8000_0000_0000UL;
        if (rnd.Next(30) == 0) iova |= 1UL << 50;
        if (rnd.Next(20) == 0) iova = 0xFEE0_0000UL + (ulong)rnd.Next(256) * 0x1000;
        iovas.Add(iova | (uint)rnd.Next(4096));
    }
    int requests = 60 + rnd.Next(60);
    for (int r = 0; r < requests; r++)
    {
        if (rnd.Next(25 * rare) == 0)
        {
            ulong f = pool[rnd.Next(pool.Count)] + (ulong)rnd.Next(512) * 8;
            var kind = rnd.Next(2) == 0 ? InjectedErrorKind.ReadsAndWrites : InjectedErrorKind.WritesOnly;
            mem.InjectError(new Hpa(f), (ulong)(8 + rnd.Next(3) * 4096), kind);
            o.AppendLine($"  inject {f:x} {kind}");
        }
        if (rnd.Next(40) == 0) { mem.ClearInjectedErrors(); o.AppendLine("  clear errors"); }
        var dev = devices[rnd.Next(devices.Length)];
        ulong addr = iovas[rnd.Next(iovas.Count)];
        var access = (DmaAccess)rnd.Next(3);
        uint? pasid = scalable && rnd.Next(3) == 0 ? (uint)(rnd.Next(10) == 0 ? rnd.Next(1 << 20) : rnd.Next(4)) : null;
        bool priv = pasid is not null && rnd.Next(3) == 0, exec = pasid is not null && rnd.Next(5) == 0;
        var at = rnd.Next(12) switch { 0 => AddressType.Translated, 1 => AddressType.TranslationRequest, _ => AddressType.Untranslated };
        var req = new DmaRequest(dev, new Iova(addr), access, pasid, priv, exec, at);
        var trace = new WalkTrace();
        writes.Clear();
        long eventsBefore = unit.Events.Events.Count == 0 ? 0 : unit.Events.Events.Last().Sequence;
        string what;
        if (rnd.Next(6) == 0 && at != AddressType.TranslationRequest && access != DmaAccess.AtomicOp)
        {
            int len = 1 + rnd.Next(9000);
            var buf = new byte[len];
            for (int i = 0; i < len; i++) buf[i] = (byte)(i * 7 + seed);
            var t = access == DmaAccess.Read ? unit.DmaRead(in req, buf, trace) : unit.DmaWrite(in req, buf, trace);
            what = $"dma {t.BytesTransferred} {Fault(t.Fault)} mem={t.MemoryError} sum={buf.Sum(b => (long)b)}";
        }
        else
        {
            var t = unit.Translate(in req, trace);
            what = $"tr {t.Address.Value:x} {t.PageSize:x} {t.Rights} {t.Kind} {Fault(t.Fault)}";
        }
        o.AppendLine($"  req {dev} {addr:x} {access} pasid={pasid} pr={priv} x={exec} {at}: {what}");
        foreach (var m in trace.References) o.AppendLine($"    ref {m}");
        if (writes.Length != 0) o.AppendLine($"    writes{writes}");
        foreach (var e in unit.Events.Events.Where(e => e.Sequence > eventsBefore)) o.AppendLine($"    ev {e}");
    }
    mem.ClearInjectedErrors();
    ulong sum = 0;
    foreach (ulong frame in pool) for (int i = 0; i < 512; i++) sum = sum * 31 + mem.Read64(new Hpa(frame + (ulong)i * 8));
    o.AppendLine($"  pool checksum {sum:x}");
}

static string Fault(DmaFault? f) => f is null ? "ok" :
    $"FAULT {f.Reason} L{f.Level} e={f.EntryAddress} v={f.EntryValue:x} gpa={f.Gpa} fpd={f.SuppressedByFpd} pasid={f.EffectivePasid} '{f.Explanation}'";
