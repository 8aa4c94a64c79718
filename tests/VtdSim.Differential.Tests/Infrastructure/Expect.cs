namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>The specification's expected outcome, asserted explicitly so that "equal but wrong" cannot pass.</summary>
public static class Expect
{
    /// <summary>One fault recorded in FRCD[0] and pending (FSTS.PPF, FRI=0), without PASID.</summary>
    public static void Fault(Outcome o, byte reason, ulong iova, bool read, ushort sourceId = 0x0008)
    {
        Assert.Equal(new FaultRecord(true, reason, sourceId, iova & ~0xFFFUL, read, false, null), o.Fault);
        Assert.Equal(Reg.FstsPpf, o.Fsts);
        Assert.Equal(Reg.FectlIm | Reg.FectlIp, o.Fectl); // IM is set from reset, so the event stays pending in IP
    }

    /// <summary>Nothing recorded: F clear, FSTS clear.</summary>
    public static void NoFault(Outcome o)
    {
        Assert.False(o.Fault.Pending, $"no fault should be pending: {o}");
        Assert.Equal(0u, o.Fsts);
        Assert.Equal(Reg.FectlIm, o.Fectl);
    }
}
