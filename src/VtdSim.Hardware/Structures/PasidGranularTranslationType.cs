namespace VtdSim.Hardware.Structures;

/// <summary>PGTT, bits 8:6 of a scalable-mode PASID table entry.</summary>
public enum PasidGranularTranslationType : byte
{
    Reserved0 = 0,
    /// <summary>001: first-stage only; FSPTPTR is an HPA.</summary>
    FirstStageOnly = 1,
    /// <summary>010: second-stage only.</summary>
    SecondStageOnly = 2,
    /// <summary>011: nested; FSPTPTR and every first-stage table address are GPAs translated by the second stage.</summary>
    Nested = 3,
    /// <summary>100: pass-through; the input address is the output address.</summary>
    PassThrough = 4,
    Reserved5 = 5,
    Reserved6 = 6,
    Reserved7 = 7,
}
