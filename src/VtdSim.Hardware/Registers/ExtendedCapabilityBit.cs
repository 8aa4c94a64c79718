namespace VtdSim.Hardware.Registers;

/// <summary>Single-bit ECAP fields by bit position, for building profiles readably.</summary>
public static class ExtendedCapabilityBit
{
    public const int C = 0, QI = 1, DT = 2, IR = 3, EIM = 4, PT = 6, SC = 7, MTS = 25, NEST = 26, PRS = 29, ERS = 30,
        SRS = 31, NWFS = 33, EAFS = 34, PASID = 40, DIT = 41, PDS = 42, SMTS = 43, VCS = 44, SSADS = 45, SSTS = 46,
        FSTS = 47, SMPWCS = 48, RPS = 49, PMS = 51, ADMS = 52, RPRIVS = 53;
}
