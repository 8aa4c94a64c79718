using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Vmm.Nesting;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// Whatever the guest writes in its PASID entry and however it invalidates: the VMM keeps at most one nested HWPT
/// per device and it is the one attached, built from the entry in force; the device sits where the rules of N5–N7
/// put it; what fails is a log line with one of QEMU's prefixes; nothing throws, and quitting leaves nothing behind.
/// </summary>
public class NestingPropertyTests
{
    private readonly record struct Step(bool Present, int Pgtt, int Page, int Fspm, bool Sre, bool Wpe, bool Eafe, bool Global);

    private static readonly Gen<Step> StepGen =
        Gen.Select(Gen.Bool, Gen.Int[0, 7], Gen.Int[0, 1 << 16], Gen.Int[0, 3], Gen.Bool, Gen.Bool, Gen.Bool, Gen.Bool,
            (p, t, page, m, s, w, e, g) => new Step(p, t, page, m, s, w, e, g));

    [Fact]
    public void AnySequenceOfGuestPasidEntriesLeavesOneConsistentBinding()
    {
        VtdProfile profile = BuiltInProfiles.SapphireRapids;
        PropertyRunner.Run(StepGen.Array[1, 10], steps =>
        {
            LinuxKernel host = Host(profile);
            Vmm vmm = Vmm.Start(host, Options());
            GuestUser user = MapForDevice(vmm, 0x100_0000, 0x1000);
            Hpa at = PasidEntryAddress(vmm, user.Device);
            NestingBinding b = vmm.NestingBindings[0];
            IommufdContext fd = vmm.Container!.Iommufd;
            PasidEntry original = ReadPasidEntry(vmm, at);
            NestingAttachment expected = NestingAttachment.FirstStage;
            PasidEntry? bound = original;

            foreach (Step s in steps)
            {
                var pgtt = (PasidGranularTranslationType)s.Pgtt;
                PasidEntry entry = new PasidEntry(0, 0, 0).WithPgtt(pgtt).WithDomainId(original.DomainId)
                    .WithFirstStagePointer((ulong)s.Page << 12).WithFirstStagePagingMode(s.Fspm)
                    .WithSupervisorRequestEnable(s.Sre).WithWriteProtectEnable(s.Wpe).WithExtendedAccessedFlagEnable(s.Eafe)
                    .WithPresent(s.Present);
                var m = vmm.GuestMachine.Memory;
                m.Write64(at, 0);
                for (int i = 7; i >= 0; i--) m.Write64(at + (ulong)(8 * i), i switch { 0 => entry.Q0, 1 => entry.Q1, 2 => entry.Q2, _ => 0 });
                Submit(vmm, s.Global ? InvalidationDescriptor.PasidCacheGlobal() : InvalidationDescriptor.PasidCachePasid(original.DomainId, 0));

                // What the rules say, from the entry and the host's capabilities (not from the VMM's code).
                bool hostTakes = s.Fspm == 0 || (s.Fspm == 1 && profile.Cap.FirstStage5LevelPaging);
                hostTakes &= !s.Sre || profile.Ecap.SupervisorRequests;
                hostTakes &= !s.Eafe || profile.Ecap.ExtendedAccessedFlag;
                if (!s.Present)
                {
                    expected = NestingAttachment.Blocked;
                    bound = null;
                }
                else if (bound != entry)
                {
                    bound = entry;
                    if (pgtt == PasidGranularTranslationType.PassThrough) expected = NestingAttachment.PassThrough;
                    else if (pgtt == PasidGranularTranslationType.FirstStageOnly && hostTakes) expected = NestingAttachment.FirstStage;
                }

                Assert.Equal(VmmState.Running, vmm.State);
                Assert.Equal(expected, b.Attachment);
                Assert.Equal(bound, b.CachedEntry);
                var nested = fd.Objects.OfType<HwptNested>().ToList();
                Assert.Equal(b.Attachment == NestingAttachment.FirstStage ? 1 : 0, nested.Count);
                if (b.FirstStageHwptId is uint id)
                {
                    Assert.Equal(id, Assert.Single(nested).Id);
                    Assert.Same(nested[0].Domain, host.Iommu.DomainOf(Support.VmmHosts.Nic));
                }
                Assert.All(vmm.Log.Lines, l => Assert.Matches("^qemu-system-x86_64: (Attaching to HWPT failed|Replacing HWPT attachment failed|Detaching from HWPT failed): ", l));
            }
            vmm.Quit();
            Assert.True(Support.VmmHosts.Unbound(host, Support.VmmHosts.Nic));
        }, seed: 0x10, iterations: 6, print: steps => string.Join(", ", steps));
    }
}
