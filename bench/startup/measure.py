#!/usr/bin/env python3
"""Start-up and whole-run times of the built vtdsim (docs/performance.md, "Start-up and the built-in scenarios").

usage: bench/startup/measure.py DLL [RUNS]

For each command: RUNS runs (default 11), each a fresh `dotnet DLL ...` with stdout a pipe. "first output" is the time
from the start of the process to its first byte on stdout (the process then runs to its end, output discarded, except
the tour, which is stopped there);
"end" is the time to its exit; "cpu" the process's user+system CPU time (from wait4), which a loaded machine inflates
less than wall time. Prints the median and the range of each.
"""
import os
import statistics
import subprocess
import sys
import time

# (arguments, whether to wait for the end): the tour (`demo`) is stopped after its first output.
COMMANDS = [
    (["profiles"], True),
    (["demo"], False),
    (["demo", "--scenario", "1"], True),
    (["run", "--all"], True),
    (["run", "--all", "--json"], True),
]


def once(dll, args, whole):
    start = time.monotonic()
    p = subprocess.Popen(["dotnet", dll, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = p.stdout.read(1)
    t_first = time.monotonic() - start
    if not whole:
        p.kill()
        p.wait()
        return t_first, float("nan"), float("nan")
    while p.stdout.read(65536):
        pass
    _, status, usage = os.wait4(p.pid, 0)
    t_end = time.monotonic() - start
    if not first or os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"vtdsim {' '.join(args)} failed (status {status})")
    return t_first, t_end, usage.ru_utime + usage.ru_stime


def main():
    dll = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 11
    with open("/proc/loadavg") as f:
        print(f"load before: {f.read().strip()}")
    for args, whole in COMMANDS:
        samples = [once(dll, args, whole) for _ in range(runs)]
        cols = list(zip(*samples)) if whole else list(zip(*samples))[:1]
        text = "  ".join(f"{name} {statistics.median(c):.3f} s ({min(c):.3f}-{max(c):.3f})" for name, c in zip(["first output", "end", "cpu"], cols))
        print(f"vtdsim {' '.join(args):24} x{runs}: {text}")
    with open("/proc/loadavg") as f:
        print(f"load after: {f.read().strip()}")


if __name__ == "__main__":
    main()
