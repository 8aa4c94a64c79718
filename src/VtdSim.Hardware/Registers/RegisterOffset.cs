namespace VtdSim.Hardware.Registers;

/// <summary>Fixed register offsets in the 4 KiB remapping-unit MMIO page (spec 11.4). IOTLB and FRCD offsets come from ECAP.IRO and CAP.FRO.</summary>
public static class RegisterOffset
{
    public const int VER = 0x000;
    public const int CAP = 0x008;
    public const int ECAP = 0x010;
    public const int GCMD = 0x018;
    public const int GSTS = 0x01C;
    public const int RTADDR = 0x020;
    public const int CCMD = 0x028;
    public const int FSTS = 0x034;
    public const int FECTL = 0x038;
    public const int FEDATA = 0x03C;
    public const int FEADDR = 0x040;
    public const int FEUADDR = 0x044;
    public const int AFLOG = 0x058;
    public const int PMEN = 0x064;
    public const int PLMBASE = 0x068;
    public const int PLMLIMIT = 0x06C;
    public const int PHMBASE = 0x070;
    public const int PHMLIMIT = 0x078;
    public const int IQH = 0x080;
    public const int IQT = 0x088;
    public const int IQA = 0x090;
    public const int ICS = 0x09C;
    public const int IECTL = 0x0A0;
    public const int IEDATA = 0x0A4;
    public const int IEADDR = 0x0A8;
    public const int IEUADDR = 0x0AC;
    public const int IQERCD = 0x0B0;
    public const int IRTA = 0x0B8;
    public const int Size = 0x1000;
}
