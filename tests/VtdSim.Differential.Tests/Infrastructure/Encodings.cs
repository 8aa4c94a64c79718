namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// Register offsets and bits, written out here from the specification (vtd-facts §1) rather than taken from VtdSim, so
/// that the suite does not share VtdSim's encodings.
/// </summary>
public static class Reg
{
    public const int VER = 0x00, CAP = 0x08, ECAP = 0x10, GCMD = 0x18, GSTS = 0x1C, RTADDR = 0x20, CCMD = 0x28, FSTS = 0x34, FECTL = 0x38;
    public const int IQH = 0x80, IQT = 0x88, IQA = 0x90, ICS = 0x9C, IQERCD = 0xB0;

    public const uint TE = 1u << 31, SRTP = 1u << 30, QIE = 1u << 26, IRE = 1u << 25;
    /// <summary>GSTS bits that are states (not one-shot completions): a GCMD write must repeat them.</summary>
    public const uint PersistentStatus = TE | QIE | IRE | (1u << 23);

    public const uint FstsPfo = 1u << 0, FstsPpf = 1u << 1, FstsIqe = 1u << 4;
    public const uint FectlIm = 1u << 31, FectlIp = 1u << 30;

    /// <summary>RTADDR.TTM = 01 (scalable mode), bit 10.</summary>
    public const ulong RtaddrScalable = 1UL << 10;

    /// <summary>CAP.FRO × 16: the first fault-recording register.</summary>
    public static int FaultRecordOffset(ulong cap) => (int)((cap >> 24) & 0x3FF) * 16;
    /// <summary>ECAP.IRO × 16: IVA; the IOTLB invalidation register is 8 bytes above.</summary>
    public static int IotlbRegisterOffset(ulong ecap) => (int)((ecap >> 8) & 0x3FF) * 16 + 8;
}

/// <summary>Translation-structure entries, encoded by hand from vtd-facts §2–§3 (bit numbers in the comments).</summary>
public static class Entry
{
    /// <summary>Legacy root entry: P (0), CTP (63:12); the high half is reserved.</summary>
    public static (ulong Lo, ulong Hi) RootLegacy(ulong contextTable, bool present = true) => (contextTable | (present ? 1UL : 0), 0);

    /// <summary>Legacy context entry: P (0), FPD (1), TT (3:2), SLPTPTR (63:12); AW (66:64), DID (87:72).</summary>
    public static (ulong Lo, ulong Hi) ContextLegacy(ulong slptptr, int aw = 1, ushort did = 1, int tt = 0, bool fpd = false, bool present = true) =>
        (slptptr | ((ulong)(uint)tt << 2) | (fpd ? 2UL : 0) | (present ? 1UL : 0), (ulong)(uint)aw | ((ulong)did << 8));

    /// <summary>Second-stage / legacy second-level entry: R (0), W (1), PS (7), ADDR (51:12).</summary>
    public static ulong Sl(ulong address, bool read = true, bool write = true, bool pageSize = false) =>
        address | (read ? 1UL : 0) | (write ? 2UL : 0) | (pageSize ? 1UL << 7 : 0);

    /// <summary>Scalable root entry: LP (0), LCTP (63:12) for devfn 0–127; UP/UCTP in the high half.</summary>
    public static (ulong Lo, ulong Hi) RootScalable(ulong lowerContextTable, bool present = true) => (lowerContextTable | (present ? 1UL : 0), 0);

    /// <summary>Scalable context entry (256 bits): P (0), FPD (1), PDTS (11:9), PASIDDIRPTR (63:12); RID_PASID (83:64).</summary>
    public static ulong[] ContextScalable(ulong pasidDirectory, int pdts = 0, uint ridPasid = 0, bool fpd = false, bool present = true) =>
        [pasidDirectory | ((ulong)(uint)pdts << 9) | (fpd ? 2UL : 0) | (present ? 1UL : 0), ridPasid, 0, 0];

    /// <summary>PASID directory entry: P (0), FPD (1), SMPTBLPTR (63:12).</summary>
    public static ulong PasidDirectory(ulong pasidTable, bool fpd = false, bool present = true) => pasidTable | (fpd ? 2UL : 0) | (present ? 1UL : 0);

    /// <summary>PASID table entry (512 bits): P (0), FPD (1), AW (4:2), PGTT (8:6), SSPTPTR (63:12); DID (79:64).</summary>
    public static ulong[] Pasid(ulong ssptptr, int pgtt = 2, int aw = 1, ushort did = 1, bool fpd = false, bool present = true) =>
        [ssptptr | ((ulong)(uint)pgtt << 6) | ((ulong)(uint)aw << 2) | (fpd ? 2UL : 0) | (present ? 1UL : 0), did, 0, 0, 0, 0, 0, 0];
}

/// <summary>128-bit invalidation descriptors (vtd-facts §6.1), Q0 then Q1.</summary>
public static class Descriptor
{
    public static (ulong, ulong) ContextGlobal() => (0x1 | (1UL << 4), 0);
    public static (ulong, ulong) IotlbGlobal() => (0x2 | (1UL << 4), 0);
    public static (ulong, ulong) IotlbDomain(ushort did) => (0x2 | (2UL << 4) | ((ulong)did << 16), 0);
    public static (ulong, ulong) IotlbPage(ushort did, ulong address, int am = 0) => (0x2 | (3UL << 4) | ((ulong)did << 16), address | (uint)am);
    /// <summary>P_IOTLB, G=10: all translations of (DID, PASID).</summary>
    public static (ulong, ulong) PasidIotlbAll(ushort did, uint pasid) => (0x6 | (2UL << 4) | ((ulong)did << 16) | ((ulong)pasid << 32), 0);
    /// <summary>PASID cache, G=01: PASID-selective within DID.</summary>
    public static (ulong, ulong) PasidCachePasid(ushort did, uint pasid) => (0x7 | (1UL << 4) | ((ulong)did << 16) | ((ulong)pasid << 32), 0);
    /// <summary>Invalidation wait with SW=1: writes <paramref name="data"/> (32 bits) to <paramref name="statusAddress"/>.</summary>
    public static (ulong, ulong) WaitWrite(ulong statusAddress, uint data) => (0x5 | (1UL << 5) | ((ulong)data << 32), statusAddress);
}

/// <summary>Where the scenarios put things in RAM (both machines have 256 MiB from 0).</summary>
public static class Layout
{
    public const ulong Root = 0x0010_0000;
    public const ulong ContextTable = 0x0010_1000;
    public const ulong PasidDirectory = 0x0010_2000;
    public const ulong PasidTable = 0x0010_3000;
    public const ulong SlRoot = 0x0010_4000;
    /// <summary>Further paging-structure pages are handed out from here.</summary>
    public const ulong TablePool = 0x0011_0000;
    public const ulong Queue = 0x0018_0000;
    public const ulong QueueStatus = 0x0018_1000;

    /// <summary>Data pages, 2 MiB aligned so large-page cases can reach them too.</summary>
    public const ulong Src = 0x0200_0000, Src2 = 0x0220_0000, Dst = 0x0300_0000, Dst2 = 0x0320_0000;

    /// <summary>A page-aligned address where neither machine has anything (above RAM, below the PCI BARs): reads of it fail.</summary>
    public const ulong NoMemory = 0x4000_0000;

    /// <summary>IOVAs the scenarios map.</summary>
    public const ulong IovaA = 0x1000_0000, IovaB = 0x1000_5000, IovaC = 0x1234_5000;
}
