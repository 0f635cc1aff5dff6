#!/usr/bin/python3
"""pybpfprof fleet-mode benchmark (root; `make bench-fleet`).

Part 1, cost: --procs busy pure-Python processes (bench_workload.py
--kind python) start once and run for the whole part. Windows of
--duration seconds alternate: unprofiled, then `pybpfprof --all
--output-dir` sampling every process at 19 Hz, for --rounds rounds, and a
last unprofiled window. Beside them run --controls more processes of the
same workload that pybpfprof is told to leave alone (--exclude on their
command line): they see the same host, which on this VM slows every vCPU
by tens of percent for seconds to minutes at a time (bench.py prints by
how much), more than the cost measured. Processes are pinned round-robin
to the CPUs, workloads and controls alike (--no-pin: the scheduler places
them), and each is compared with the controls on its own CPU, which share
its CPU's slow-downs and its scheduler. A process's rate in a window is
the median over its seconds of its iterations over those controls' (per
control); its throughput ratio is its rate in a profiled window over the
mean of its rates in the unprofiled windows just before and after
(--controls 0: plain iterations per second). Prints the ratio per process
(median of rounds), their median and minimum (--rounds 0 skips part 1), the same for the sum of all
processes, and pybpfprof's CPU share of one core, the BPF sampler's CPU
(kernel bpf_stats) and pybpfprof's peak RSS. pybpfprof's own CPU is taken
from the profiled and the control processes alike, so the ratio shows the
cost inside the profiled processes (the sampler, its interrupts, reads of
their memory); pybpfprof's own share is printed beside it.

Part 2, syscalls (--syscall-rounds, 0 to skip): what a running pybpfprof
costs every other task of the host on each syscall. bench/syscall_loop.c
times getppid (CPU nanoseconds per call, median of its repeats) with no
profiler, with `pybpfprof --all` (which attaches no syscall tracepoint) and
with `pybpfprof --all --unmap-check tracepoint` (the munmap tracepoint,
which puts every task on the kernel's slower syscall path), in turn, for
that many rounds; prints the median of each.

Part 3, soak (--soak seconds, 0 to skip): pybpfprof --all runs while short
Python processes come and go (one started every second, each living 4 s,
a third in their own pid namespace); every 30 s it prints pybpfprof's RSS
and open file descriptors, then the first and last values: flat means
caches go with their processes.

usage: bench/fleet_bench.py [--bin PATH] [--python PATH] [--procs 10]
                            [--controls 2] [--duration 60] [--rounds 3]
                            [--syscall-rounds 3] [--soak 600]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench  # noqa: E402  (workload start/stop, /proc and bpf_stats readers)

MEMBER = os.path.join(REPO, "tests", "workloads", "fleet_member.py")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(REPO, "build", "pybpfprof"))
    p.add_argument("--python", default="/usr/bin/python3.11")
    p.add_argument("--procs", type=int, default=10)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--margin", type=float, default=2.0)
    p.add_argument("--frequency", type=int, default=19)
    p.add_argument("--soak", type=float, default=600)
    p.add_argument("--syscall-rounds", type=int, default=3)
    p.add_argument("--controls", type=int, default=2,
                   help="unprofiled processes of the same workload to compare with (default 2)")
    p.add_argument("--no-pin", dest="pin", action="store_false",
                   help="let the scheduler place the processes (default: round-robin on the CPUs)")
    return p.parse_args(argv)


def proc_status(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def start_profiler(args, outdir, extra=()):
    """pybpfprof --all; its stderr goes to a file (a pipe nobody reads
    would fill up and stall it), kept as prof.log."""
    log = tempfile.NamedTemporaryFile(prefix="fleet-bench-", suffix=".stderr", delete=False)
    prof = subprocess.Popen([args.bin, "--all", "--output-dir", outdir, "-F", str(args.frequency),
                             "--interval", "10"] + list(extra),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    prof.log = log.name
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(log.name) as f:
            if "sampling" in f.read():
                return prof
        if prof.poll() is not None:
            break
        time.sleep(0.1)
    prof.kill()
    with open(log.name) as f:
        sys.exit("fleet_bench: pybpfprof did not start: %r" % f.read()[-500:])


# The controls are found by their --out file's name: pybpfprof --all is
# told to leave every process whose command line matches alone.
CONTROL_NAME = "control-%d.json"
CONTROL_EXCLUDE = r"bench_workload\.py .*/control-[0-9]+\.json"


def followed_pids(outdir):
    """The pids that have a profile in outdir (HOST_SERVICE_PID_TIME.folded)."""
    pids = set()
    for name in os.listdir(outdir) if os.path.isdir(outdir) else []:
        parts = name.split("_")
        if name.endswith(".folded") and len(parts) >= 4 and parts[-2].isdigit():
            pids.add(int(parts[-2]))
    return pids


def profiled_window(args, tmp):
    """pybpfprof --all for one window; returns the window and its figures."""
    prof = start_profiler(args, os.path.join(tmp, "profiles"), ["--exclude", CONTROL_EXCLUDE])
    time.sleep(1.5)   # the first scan attaches every workload
    start = time.monotonic()
    cpu0, bpf0 = bench.proc_cpu_seconds(prof.pid), bench.bpf_run_time_ns()
    time.sleep(args.duration)
    cpu1, bpf1 = bench.proc_cpu_seconds(prof.pid), bench.bpf_run_time_ns()
    figures = {"cpu_share": (cpu1 - cpu0) / args.duration,
               "bpf_share": (bpf1 - bpf0) / 1e9 / args.duration
               if bpf0 is not None and bpf1 is not None else None,
               "peak_rss_kb": proc_status(prof.pid, "VmHWM")}
    prof.send_signal(signal.SIGINT)
    prof.wait(timeout=60)
    if prof.returncode != 0:
        with open(prof.log) as f:
            sys.exit("fleet_bench: pybpfprof failed (exit %s): %s" % (prof.returncode, f.read()[-800:]))
    return (start + args.margin, start + args.duration - args.margin), figures


def cost(args):
    tmp = tempfile.mkdtemp(prefix="fleet-bench-")
    outs = [os.path.join(tmp, "w%d.json" % i) for i in range(args.procs)]
    bargs = argparse.Namespace(python=args.python, pin=args.pin)
    ncpu = os.cpu_count() or 1
    with open(bench.BPF_STATS, "w") as f:
        f.write("1")
    procs = [bench.start_workload(bargs, "python", o, i % ncpu) for i, o in enumerate(outs)]
    ctl_outs = [os.path.join(tmp, CONTROL_NAME % i) for i in range(args.controls)]
    controls = [bench.start_workload(bargs, "python", o, i % ncpu) for i, o in enumerate(ctl_outs)]
    seq = []    # (figures or None, window) in time order
    try:
        for r in range(args.rounds + 1):
            t0 = time.monotonic()
            time.sleep(args.duration)
            seq.append((None, (t0 + args.margin, t0 + args.duration - args.margin)))
            if r == args.rounds:
                break
            window, fig = profiled_window(args, tmp)
            sampled = followed_pids(os.path.join(tmp, "profiles"))
            if sampled & set(p.pid for p in controls):
                sys.exit("fleet_bench: --exclude did not keep the controls out (profiles of %s)"
                         % sorted(sampled & set(p.pid for p in controls)))
            if not set(p.pid for p in procs) <= sampled:
                sys.exit("fleet_bench: not every workload was profiled (missing %s)"
                         % sorted(set(p.pid for p in procs) - sampled))
            seq.append((fig, window))
            print("round %d of %d done" % (r + 1, args.rounds), flush=True)
        ends = [bench.stop_workload(p, o) for p, o in zip(procs, outs)]
        ctl_ends = [bench.stop_workload(p, o) for p, o in zip(controls, ctl_outs)]
    finally:
        for p in procs + controls:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    # One control series, every control's iterations: ratios of ratios,
    # so that it is their sum and not their mean does not matter. Pinned,
    # each process has the series of the controls on its own CPU (all of
    # them if its CPU has none).
    ctl = sorted(t for e in ctl_ends for t in e) or None

    def control_of(i):
        if not args.pin or not ctl:
            return ctl
        mine = sorted(t for j, e in enumerate(ctl_ends) if j % ncpu == i % ncpu for t in e)
        return mine or ctl
    rates = [[bench.steady_rate(e, *w, control=control_of(i)) for _, w in seq]
             for i, e in enumerate(ends)]   # [proc][window]
    total = [bench.steady_rate(sorted(t for e in ends for t in e), *w, control=ctl) for _, w in seq]

    def ratios(series):
        out = []
        for j in range(1, len(seq), 2):     # profiled windows sit between two unprofiled ones
            base = (series[j - 1] + series[j + 1]) / 2
            out.append(series[j] / base if base else float("nan"))
        return out

    per = [statistics.median(ratios(r)) for r in rates]
    figs = [f for f, _ in seq if f]
    print("\nfleet cost: %d busy processes, %d Hz, %d rounds of %g s windows (%d cores: the processes "
          "share them%s)%s" % (args.procs, args.frequency, args.rounds, args.duration, ncpu,
                               ", pinned round-robin" if args.pin else "",
                             ", rates relative to %d unprofiled controls of the same workload"
                             % len(ctl_ends) if ctl else ""))
    print("throughput ratio per process (median of rounds): " + " ".join("%.3f" % x for x in per))
    print("throughput ratio: median %.3f, min %.3f; all processes together: %s"
          % (statistics.median(per), min(per), " ".join("%.3f" % x for x in ratios(total))))
    print("pybpfprof CPU: %.2f%% of one core; BPF sampler: %.2f%% of one core; peak RSS %.1f MB"
          % (100 * statistics.median(f["cpu_share"] for f in figs),
             100 * statistics.median(f["bpf_share"] or 0 for f in figs),
             max(f["peak_rss_kb"] or 0 for f in figs) / 1024.0))


def syscall_cost(args):
    tmp = tempfile.mkdtemp(prefix="fleet-syscalls-")
    loop = os.path.join(tmp, "syscall_loop")
    subprocess.run(["cc", "-O2", "-o", loop, os.path.join(HERE, "syscall_loop.c")], check=True)
    setups = [("no profiler", None), ("pybpfprof --all", []),
              ("pybpfprof --all --unmap-check tracepoint", ["--unmap-check", "tracepoint"])]
    ns = {name: [] for name, _ in setups}
    try:
        for r in range(args.syscall_rounds):
            for name, extra in setups:
                prof = start_profiler(args, os.path.join(tmp, "profiles"), extra) if extra is not None else None
                try:
                    out = subprocess.run([loop, "500000", "11"], stdout=subprocess.PIPE, check=True,
                                         universal_newlines=True).stdout
                    ns[name].append(float(out))
                finally:
                    if prof:
                        prof.send_signal(signal.SIGINT)
                        prof.wait(timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(ns["no profiler"])
    print("\nsyscalls of other tasks (getppid, CPU ns per call, median of %d rounds):" % args.syscall_rounds)
    for name, _ in setups:
        m = statistics.median(ns[name])
        print("  %-42s %7.1f ns  (%+.1f%%; rounds: %s)"
              % (name, m, 100 * (m / base - 1), " ".join("%.1f" % x for x in ns[name])))


def soak(args):
    tmp = tempfile.mkdtemp(prefix="fleet-soak-")
    prof = start_profiler(args, os.path.join(tmp, "profiles"), ["--retain", "50"])
    members, series, i = [], [], 0
    start = time.monotonic()
    next_report = start + 30
    try:
        while time.monotonic() - start < args.soak:
            argv = [args.python, MEMBER, "s%02d" % (i % 100), "4"]
            if i % 3 == 0:
                argv = ["unshare", "--pid", "--fork", "--mount-proc"] + argv
            members.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
            i += 1
            members = [m for m in members if m.poll() is None]
            time.sleep(1)
            if time.monotonic() >= next_report:
                next_report += 30
                rss, fds = proc_status(prof.pid, "VmRSS"), fd_count(prof.pid)
                if rss is None or prof.poll() is not None:
                    with open(prof.log) as f:
                        sys.exit("fleet_bench: pybpfprof ended during the soak (exit %s) after %.0f s: %s"
                                 % (prof.poll(), time.monotonic() - start, f.read()[-800:]))
                series.append((time.monotonic() - start, rss, fds))
                print("soak %4.0f s: %d processes started, pybpfprof RSS %.1f MB, %d fds"
                      % (series[-1][0], i, rss / 1024.0, fds), flush=True)
    finally:
        for m in members:
            m.wait()
        prof.send_signal(signal.SIGINT)
        prof.wait(timeout=60)
        with open(prof.log) as f:
            err = f.read()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = [l for l in err.split("\n") if "processes followed" in l]
    print("soak: %d processes in %.0f s; RSS %.1f -> %.1f MB, fds %d -> %d (first report -> last)"
          % (i, args.soak, series[0][1] / 1024.0, series[-1][1] / 1024.0, series[0][2], series[-1][2]))
    if summary:
        print("soak: " + summary[0].replace("pybpfprof: ", ""))


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("fleet_bench: run as root (pybpfprof needs it)")
    if args.rounds > 0:
        cost(args)
    if args.syscall_rounds > 0:
        syscall_cost(args)
    if args.soak > 0:
        soak(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
