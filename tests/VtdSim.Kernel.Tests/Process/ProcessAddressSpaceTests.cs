using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Process;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Process;

public class ProcessAddressSpaceTests
{
    private readonly LinuxKernel _kernel = LinuxKernel.Boot(PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 32));

    [Fact]
    public void AnonymousMemoryIsZeroAllocatedOnFirstTouchAndFromTheUserRange()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(3 * 4096, MemoryProtection.ReadWrite, out Uva va));
        Assert.Equal(ProcessAddressSpace.MmapBase, va.Value);
        Assert.Equal(0, p.ResidentPages);
        Assert.Equal(Errno.Success, p.Read64(va + 4096, out ulong zero));
        Assert.Equal(0UL, zero);
        Assert.Equal(Errno.Success, p.Write64(va + 4096 + 16, 0xFEED));
        Assert.Equal(Errno.Success, p.Read64(va + 4096 + 16, out ulong v));
        Assert.Equal(0xFEEDUL, v);
        Assert.Equal(1, p.ResidentPages);
        Hpa page = p.Translate(va + 4096)!.Value;
        Assert.True(_kernel.UserMemory.Contains(page));
        Assert.Equal(0xFEEDUL, _kernel.Machine.Memory.Read64(page + 16));
    }

    [Fact]
    public void TryFaultFaultsThePageInAsATouchAndGivesTheBytesPhysicalAddress()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(2 * 4096, MemoryProtection.Read, out Uva ro));
        Assert.Equal(Errno.Success, p.Mmap(2UL << 20, MemoryProtection.ReadWrite, out Uva huge, flags: MapFlags.Hugetlb));
        Assert.Equal(0, p.ResidentPages);

        Assert.Equal(Errno.Success, p.TryFault(ro + 4096 + 0x123, write: false, out Hpa a));
        Assert.Equal(1, p.ResidentPages);
        Assert.Equal(p.Translate(ro + 4096 + 0x123), a);
        Assert.Equal(Errno.EFAULT, p.TryFault(ro, write: true, out _)); // a store to a read-only mapping
        Assert.Equal(Errno.EFAULT, p.TryFault(new Uva(0x1000), write: false, out _));
        Assert.Equal(1, p.ResidentPages);

        // A hugetlb page comes whole: the byte's address is the folio's head plus its offset.
        Assert.Equal(Errno.Success, p.TryFault(huge + 0x12_3456, write: true, out Hpa h));
        Assert.Equal(p.Translate(huge)!.Value + 0x12_3456, h);
        Assert.Equal(0x456UL, h.PageOffset);
        // The page is the process's: a store through it is what the process loads.
        _kernel.Machine.Memory.Write64(h + 2, 0xBEEF);
        Assert.Equal(Errno.Success, p.Read64(huge + 0x12_3458, out ulong v));
        Assert.Equal(0xBEEFUL, v);
    }

    /// <summary>
    /// A PROT_WRITE-only mapping on x86 (decision K32): the CPU can load from it (its page tables cannot express
    /// write-only, and access_error lets any accessible mapping be read), so copy_from_user works; a read pin is
    /// EFAULT (get_user_pages' check_vma_flags wants VM_READ without FOLL_FORCE); a write pin works.
    /// </summary>
    [Fact]
    public void AWriteOnlyMappingIsReadableByTheCpuButNotPinnableForReading()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(4096, MemoryProtection.Write, out Uva wo));
        Assert.Equal(Errno.Success, p.Write64(wo + 8, 0x5A5A));
        Assert.Equal(Errno.Success, p.Read64(wo + 8, out ulong v));
        Assert.Equal(0x5A5AUL, v);
        Assert.Equal(Errno.EFAULT, p.PinPages(wo, 1, write: false, out _));
        Assert.Equal(Errno.Success, p.PinPages(wo, 1, write: true, out var runs));
        p.UnpinPages(runs);
    }

    [Fact]
    public void AccessesOutsideMappingsOrAgainstProtectionAreEfault()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(4096, MemoryProtection.Read, out Uva ro));
        Assert.Equal(Errno.Success, p.Mmap(4096, MemoryProtection.None, out Uva none));
        Assert.Equal(Errno.EFAULT, p.Write64(ro, 1));
        Assert.Equal(Errno.Success, p.Read64(ro, out _));
        Assert.Equal(Errno.EFAULT, p.Read64(none, out _));
        Assert.Equal(Errno.EFAULT, p.Read64(new Uva(0x1000), out _));
        // A write that runs off the end of a mapping fails once it gets there.
        Assert.Equal(Errno.Success, p.Mmap(4096, MemoryProtection.ReadWrite, out Uva rw, fixedAddress: new Uva(0x7000_0000)));
        Assert.Equal(Errno.EFAULT, p.Write(rw + 4090, new byte[16]));
    }

    [Fact]
    public void MmapRejectsBadArgumentsAndFixedOverlaps()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.EINVAL, p.Mmap(0, MemoryProtection.ReadWrite, out _));
        Assert.Equal(Errno.EINVAL, p.Mmap(4096, MemoryProtection.ReadWrite, out _, fixedAddress: new Uva(0x1001)));
        Assert.Equal(Errno.Success, p.Mmap(2 * 4096, MemoryProtection.ReadWrite, out Uva va, fixedAddress: new Uva(0x4000_0000)));
        Assert.Equal(Errno.EEXIST, p.Mmap(4096, MemoryProtection.ReadWrite, out _, fixedAddress: va + 4096));
        Assert.Equal(Errno.EINVAL, p.Munmap(va + 1, 4096));
    }

    [Fact]
    public void MunmapSplitsAMappingAndFreesItsPages()
    {
        var p = _kernel.CreateProcess("a");
        int before = _kernel.UserMemory.PagesInUse;
        Assert.Equal(Errno.Success, p.Mmap(3 * 4096, MemoryProtection.ReadWrite, out Uva va));
        for (ulong i = 0; i < 3; i++) p.Write64(va + i * 4096, i + 1);
        Assert.Equal(before + 3, _kernel.UserMemory.PagesInUse);

        Assert.Equal(Errno.Success, p.Munmap(va + 4096, 4096));
        Assert.Equal(before + 2, _kernel.UserMemory.PagesInUse);
        Assert.Equal(2, p.Mappings.Count);
        Assert.Equal(Errno.EFAULT, p.Read64(va + 4096, out _));
        Assert.Equal(Errno.Success, p.Read64(va + 2 * 4096, out ulong third));
        Assert.Equal(3UL, third);

        p.Exit();
        Assert.Equal(before, _kernel.UserMemory.PagesInUse);
    }

    [Fact]
    public void AReadOnlySharedFilePageMappedByTwoProcessesIsOnePhysicalPage()
    {
        var file = _kernel.CreateFile("rom.bin", 2 * 4096);
        Assert.Equal(Errno.Success, file.Write(4096, "option rom"u8));
        var a = _kernel.CreateProcess("a");
        var b = _kernel.CreateProcess("b");
        Assert.Equal(Errno.Success, a.MmapShared(file, 0, 2 * 4096, MemoryProtection.Read, out Uva va));
        Assert.Equal(Errno.Success, b.MmapShared(file, 4096, 4096, MemoryProtection.Read, out Uva vb));

        Assert.Equal(Errno.Success, a.PinPages(va + 4096, 1, write: false, out var pa));
        Assert.Equal(Errno.Success, b.PinPages(vb, 1, write: false, out var pb));
        Assert.Same(pa[0].Folio, pb[0].Folio);
        Assert.Equal(2, pa[0].Folio.PinCount);
        Assert.Equal(a.Translate(va + 4096), b.Translate(vb));
        var text = new byte[10];
        Assert.Equal(Errno.Success, b.Read(vb, text));
        Assert.Equal("option rom"u8.ToArray(), text);
        a.UnpinPages(pa);
        b.UnpinPages(pb);
    }

    [Fact]
    public void ASharedWritableMappingWritesThroughToTheOtherProcess()
    {
        var file = _kernel.CreateFile("shm", 4096);
        var a = _kernel.CreateProcess("a");
        var b = _kernel.CreateProcess("b");
        a.MmapShared(file, 0, 4096, MemoryProtection.ReadWrite, out Uva va);
        b.MmapShared(file, 0, 4096, MemoryProtection.Read, out Uva vb);
        Assert.Equal(Errno.Success, a.Write64(va + 8, 42));
        Assert.Equal(Errno.Success, b.Read64(vb + 8, out ulong v));
        Assert.Equal(42UL, v);
        Assert.Equal(Errno.EFAULT, b.Write64(vb, 1));
    }

    [Fact]
    public void AWritePinOfAReadOnlyMappingIsEfaultAndPinsNothing()
    {
        var p = _kernel.CreateProcess("a");
        p.Mmap(2 * 4096, MemoryProtection.ReadWrite, out Uva rw, fixedAddress: new Uva(0x5000_0000));
        p.Mmap(4096, MemoryProtection.Read, out _, fixedAddress: new Uva(0x5000_2000));
        long pins = _kernel.UserMemory.TotalPins;

        Assert.Equal(Errno.EFAULT, p.PinPages(rw, 3, write: true, out _));
        Assert.Equal(pins, _kernel.UserMemory.TotalPins);
        Assert.Equal(Errno.Success, p.PinPages(rw, 3, write: false, out var frames));
        Assert.Equal(pins + 3, _kernel.UserMemory.TotalPins);
        p.UnpinPages(frames);
        Assert.Equal(Errno.EFAULT, p.PinPages(new Uva(0x6000_0000), 1, write: false, out _));
    }

    [Fact]
    public void APinnedPageOutlivesMunmapAndIsFreedAtUnpin()
    {
        var p = _kernel.CreateProcess("a");
        p.Mmap(4096, MemoryProtection.ReadWrite, out Uva va);
        p.Write64(va, 7);
        Assert.Equal(Errno.Success, p.PinPages(va, 1, write: true, out var frames));
        var frame = frames[0].Folio;
        var freed = new List<PageFrame>();
        _kernel.UserMemory.PageFreed += freed.Add;

        p.Munmap(va, 4096);
        Assert.False(frame.Freed);
        Assert.Equal(0, frame.References);
        Assert.Equal(7UL, _kernel.Machine.Memory.Read64(frame.Address));

        p.UnpinPages(frames);
        Assert.True(frame.Freed);
        Assert.Equal([frame], freed);
        Assert.Null(_kernel.UserMemory.FrameAt(frame.Address));
    }

    [Fact]
    public void DeletingAFileKeepsMappedAndPinnedPagesUntilTheyGo()
    {
        var file = _kernel.CreateFile("f", 2 * 4096);
        var p = _kernel.CreateProcess("a");
        p.MmapShared(file, 0, 2 * 4096, MemoryProtection.ReadWrite, out Uva va);
        p.Write64(va, 1); // page 0 faulted in; page 1 never touched
        Assert.Equal(Errno.Success, p.PinPages(va, 1, write: true, out var frames));
        file.Delete();
        Assert.Equal(0, file.CachedPages);
        Assert.Equal(Errno.Success, p.Read64(va, out ulong one));
        Assert.Equal(1UL, one);
        Assert.Equal(Errno.EFAULT, p.Read64(va + 4096, out _)); // the file is gone: SIGBUS, EFAULT here
        p.Munmap(va, 2 * 4096);
        Assert.False(frames[0].Folio.Freed);
        p.UnpinPages(frames);
        Assert.True(frames[0].Folio.Freed);
    }

    [Fact]
    public void AMappingBeyondTheEndOfItsFileFaultsThere()
    {
        var file = _kernel.CreateFile("small", 4096);
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.MmapShared(file, 0, 2 * 4096, MemoryProtection.Read, out Uva va));
        Assert.Equal(Errno.Success, p.Read64(va, out _));
        Assert.Equal(Errno.EFAULT, p.Read64(va + 4096, out _));
        Assert.Equal(Errno.EFAULT, p.PinPages(va, 2, write: false, out _));
        Assert.Equal(Errno.EINVAL, p.MmapShared(file, 100, 4096, MemoryProtection.Read, out _));
    }

    [Fact]
    public void UserPagesAreReusedLowestFirstAfterTheyAreFreed()
    {
        var p = _kernel.CreateProcess("a");
        p.Mmap(2 * 4096, MemoryProtection.ReadWrite, out Uva va);
        p.Write64(va, 1);
        p.Write64(va + 4096, 2);
        Hpa first = p.Translate(va)!.Value;
        p.Munmap(va, 2 * 4096);
        p.Mmap(4096, MemoryProtection.ReadWrite, out Uva again);
        p.Write64(again, 3);
        Assert.Equal(first, p.Translate(again));
        // Reused pages come back zeroed apart from what was just written.
        Assert.Equal(Errno.Success, p.Read64(again + 8, out ulong zero));
        Assert.Equal(0UL, zero);
    }
}
