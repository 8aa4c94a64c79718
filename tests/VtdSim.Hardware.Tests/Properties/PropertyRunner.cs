using CsCheck;

namespace VtdSim.Hardware.Tests.Properties;

/// <summary>
/// Runs a CsCheck generator a fixed number of times from a fixed seed, on one thread, so a test run is the same every
/// time (CsCheck's own Sample draws all but its first case from a time-seeded generator). When a case fails, the
/// failure names the CsCheck seed of that case and then lets CsCheck shrink it (that part is only run on failure).
/// </summary>
internal static class PropertyRunner
{
    public static void Run<T>(Gen<T> gen, Action<T> check, ulong seed, int iterations, Func<T, string>? print = null, int shrinkIterations = 3000)
    {
        var pcg = new PCG(7, seed);
        for (int i = 0; i < iterations; i++)
        {
            ulong state = pcg.State;
            T value = gen.Generate(pcg, null, out _);
            try
            {
                check(value);
            }
            catch (Exception e)
            {
                string caseSeed = pcg.ToString(state);
                string shrunk;
                try
                {
                    gen.Sample(check, seed: caseSeed, iter: shrinkIterations, threads: 1, print: print);
                    shrunk = "(CsCheck could not reproduce the failure from its seed)";
                }
                catch (CsCheckException shrinkFailure)
                {
                    shrunk = shrinkFailure.Message + "\n" + shrinkFailure.InnerException?.Message;
                }
                Assert.Fail($"case {i} of {iterations} failed; replay it with CsCheck seed \"{caseSeed}\".\n{e.Message}\n\nShrunk by CsCheck:\n{shrunk}");
            }
        }
    }
}
