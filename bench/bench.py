#!/usr/bin/python3
"""pybpfprof overhead benchmark (run as root, e.g. by `make bench`).

For each workload (pure Python, numpy) one workload process runs for the
whole benchmark, pinned to CPU 0. Windows of --duration seconds alternate:
unprofiled, profiled at 99 Hz, unprofiled, profiled at 999 Hz, unprofiled,
... for --rounds rounds (the order of the frequencies rotates per round),
each profiled window a whole pybpfprof run pinned to CPU 1. Reported,
medians over the rounds:

  paired ratio the throughput of each profiled window over the mean of the
               unprofiled windows just before and after it (and the range):
               the figure to quote. One process for all windows takes out
               what differs between processes (memory layout, hash seeds:
               a few percent on their own), neighbours take out drift
  rate         iterations per second of a window: the median of its
               one-second rates, counted by the workload itself. This VM
               has bursts of host contention that slow a second or two by
               tens of percent (see host noise); the median is what a window runs at outside them
  bpf cpu/s    CPU seconds per second spent in the BPF sampler (kernel
               bpf_stats); it runs on the sampled CPU, so it is the target's
               direct loss, noise-free, unlike the throughput ratio
  bpf/target   the same as a share of the CPU time the workload had
  bpf us/smp   the same per sample taken
  cpu/s total  pybpfprof's user+sys CPU seconds (getrusage of the exited
               child: setup, sampling and output) per second of --seconds
  cpu/s steady the same from /proc/PID/stat deltas inside the window only
  root%        share of samples whose native stack reached the process root:
               no "[native stack truncated]" marker and a root frame
               (--root-frames, default main, _start, __libc_start_main,
               __libc_start_call_main, Py_BytesMain) before the first Python
               frame. Py_BytesMain is included because CPython's main() is
               `return Py_BytesMain(argc, argv);`, a tail call at -O2, so
               `main` itself is never on the stack (perf on Debian's
               python3.11 shows _start;__libc_start_call_main;Py_BytesMain).
  notrunc%     share of samples without "[native stack truncated]"
  host noise   the spread of the workload's one-second rates in the
               unprofiled windows (the reason for the control)
  exit latency time from the end of sampling (start line + --seconds) to the
               profiler's exit with its output written; after the rounds, one
               more run of --latency-seconds (default 60) at the highest
               frequency measures it on a long profile

CONTROL: this VM's host slows both vCPUs by tens of percent for seconds to
minutes at a time (the host noise line shows by how much), more than the
cost measured. So beside the workload a
second, identical process (the control, not profiled) runs pinned to the
same CPU: the scheduler gives each half of it in slices of milliseconds, so
both see the same host. A window's rate is then the median over its seconds
of workload/control iterations. The BPF sampler's cost lands on the
workload (the kernel charges the interrupt to the task it interrupts); the
perf timer's own interrupt entry on CPU 0 is paid by whichever of the two
runs, so half of it is not seen: `bpf cpu/s` gives the sampler's share.
--no-control measures plain iterations per second instead.

The measurement window starts --margin seconds after the profiler's first
stderr line (printed when it starts sampling) and ends --margin before
start + --seconds; unprofiled windows are trimmed the same way.

Workloads run with OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1:
one thread does all the work, so throughput does not depend on idle cores.

usage: bench/bench.py [--bin PATH] [--python PATH] [--duration 10]
                      [--rounds 8] [--freqs 99,999] [--kinds python,numpy]
                      [--latency-seconds 60]
"""
import argparse
import json
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = os.path.join(REPO, "bench", "bench_workload.py")
ROOT_FRAMES = "main,_start,__libc_start_main,__libc_start_call_main,Py_BytesMain"
NATIVE_TRUNCATED = "[native stack truncated]"
PYFRAME_RE = re.compile(r"^(.+) \((.+):(-?\d+)\)$")
FOLDED_RE = re.compile(r"^(.+) (\d+)$")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.environ.get("PP_BIN")
                   or os.path.join(REPO, "build", "pybpfprof"))
    p.add_argument("--python", default="/usr/bin/python3.11",
                   help="interpreter for the workloads (needs numpy for "
                        "the numpy workload)")
    p.add_argument("--duration", type=int, default=10,
                   help="seconds per window (also the profiler's --seconds)")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--latency-seconds", type=int, default=60,
                   help="length of the run that measures exit latency (0: none)")
    p.add_argument("--freqs", default="99,999")
    p.add_argument("--kinds", default="python,numpy")
    p.add_argument("--margin", type=float, default=1.0,
                   help="seconds trimmed from each end of the window")
    p.add_argument("--root-frames", default=ROOT_FRAMES,
                   help="comma-separated frame names that count as the root")
    p.add_argument("--workdir", default=os.path.join(REPO, "build", "bench"))
    p.add_argument("--no-control", dest="control", action="store_false",
                   help="no control process beside the workload (see CONTROL above)")
    p.add_argument("--no-pin", dest="pin", action="store_false",
                   help="do not pin the workload to CPU 0 and pybpfprof to CPU 1")
    return p.parse_args(argv)


# -- processes --------------------------------------------------------------

def workload_env():
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


def pinned(args, cpu):
    """preexec_fn pinning the child to one CPU: the workload and pybpfprof
    then never share a core, so the ratio measures what sampling costs the
    target (BPF runs on the target's CPU) rather than where the scheduler
    happened to put the profiler on this 2-core machine."""
    if not args.pin or (os.cpu_count() or 1) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def start_workload(args, kind, out, cpu=0):
    proc = subprocess.Popen([args.python, WORKLOAD, "--kind", kind, "--out", out],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            env=workload_env(), preexec_fn=pinned(args, cpu))
    line = proc.stdout.readline().decode().strip()
    if line != "READY":
        proc.kill()
        proc.wait()
        sys.exit("bench: %s workload failed to start (got %r)" % (kind, line))
    return proc


def stop_workload(proc, out):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    with open(out) as f:
        return json.load(f)["ends"]


def proc_cpu_seconds(pid):
    """utime + stime of a live process, from /proc/PID/stat."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14, 15


BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"


def bpf_run_time_ns():
    """Summed run time of the loaded pp_sample programs (kernel.bpf_stats)."""
    try:
        out = subprocess.run(["bpftool", "-j", "prog", "show", "name", "pp_sample"],
                             capture_output=True, text=True, timeout=10).stdout
        progs = json.loads(out or "[]")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if isinstance(progs, dict):
        progs = [progs]
    times = [p.get("run_time_ns") for p in progs if p.get("run_time_ns") is not None]
    return sum(times) if times else None


def stderr_reader(stream, lines):
    for raw in iter(stream.readline, b""):
        lines.put((time.monotonic(), raw.decode("utf-8", "replace").rstrip()))
    lines.put((time.monotonic(), None))


def sleep_until(t):
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def run_profiled(args, pid, freq, out, seconds=None):
    """Profile pid for `seconds` (--duration); returns timings and CPU figures."""
    seconds = seconds or args.duration
    cmd = [args.bin, "--pid", str(pid), "--seconds", str(seconds),
           "--frequency", str(freq), "--output", out]
    launched = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=pinned(args, 1))
    lines = queue.Queue()
    threading.Thread(target=stderr_reader, args=(proc.stderr, lines),
                     daemon=True).start()
    try:
        start = lines.get(timeout=60)[0]      # the start line
    except queue.Empty:
        start = launched
    w0, w1 = window(start, args, seconds)
    sleep_until(w0)
    cpu0, tcpu0 = proc_cpu_seconds(proc.pid), proc_cpu_seconds(pid)
    bpf0 = bpf_run_time_ns()
    sleep_until(w1)
    cpu1, tcpu1 = proc_cpu_seconds(proc.pid), proc_cpu_seconds(pid)
    bpf1 = bpf_run_time_ns()
    _, status, rusage = os.wait4(proc.pid, 0)
    exited = time.monotonic()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = []
    while True:
        _, line = lines.get()
        if line is None:
            break
        stderr.append(line)
    if proc.returncode != 0:
        sys.exit("bench: %s failed (exit %s): %s"
                 % (" ".join(cmd), proc.returncode, " | ".join(stderr[-5:])))
    steady = None
    if cpu0 is not None and cpu1 is not None:
        steady = (cpu1 - cpu0) / (w1 - w0)
    return {
        "window": (w0, w1),
        "cpu_total_per_s": (rusage.ru_utime + rusage.ru_stime) / seconds,
        "cpu_steady_per_s": steady,
        "exit_latency": exited - (start + seconds),
        # CPU time spent in the BPF sampler per second: charged to whatever
        # runs on the sampled CPU, i.e. the target's own loss (plus the
        # early-return calls on the other, idle CPU).
        "bpf_cpu_per_s": None if bpf0 is None or bpf1 is None else (bpf1 - bpf0) / 1e9 / (w1 - w0),
        # the same as a share of the CPU the target got in the window
        "bpf_share": None if bpf0 is None or bpf1 is None or not tcpu0 or not tcpu1 or tcpu1 <= tcpu0
        else (bpf1 - bpf0) / 1e9 / (tcpu1 - tcpu0),
    }


def window(start, args, seconds=None):
    return start + args.margin, start + (seconds or args.duration) - args.margin


def throughput(ends, w0, w1):
    """Iterations per second finishing inside [w0, w1]."""
    return sum(1 for t in ends if w0 <= t <= w1) / (w1 - w0)


def steady_rate(ends, w0, w1, control=None):
    """The median of the one-second rates inside [w0, w1] (over the
    control's rates in the same seconds, if given): what the window runs at
    outside bursts of host contention."""
    def rate(a, b):
        r = throughput(ends, a, b)
        if control is None:
            return r
        c = throughput(control, a, b)
        return r / c if c else None
    n = int(w1 - w0)
    if n < 1:
        return rate(w0, w1)
    return median([rate(w0 + i, w0 + i + 1) for i in range(n)])


# -- profile analysis ------------------------------------------------------

def root_shares(path, root_frames):
    """(root-reached share, not-truncated share, samples) of a profile."""
    total = reached = untruncated = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = FOLDED_RE.match(line.rstrip("\n"))
            if not m:
                continue
            frames, n = m.group(1).split(";"), int(m.group(2))
            total += n
            if NATIVE_TRUNCATED in frames:
                continue
            untruncated += n
            for frame in frames[2:]:           # skip process and thread
                if PYFRAME_RE.match(frame):
                    break
                if frame in root_frames:
                    reached += n
                    break
    if total == 0:
        return None, None, 0
    return reached / total, untruncated / total, total


# -- driver ------------------------------------------------------------------

def run_kind(args, kind, freqs):
    """One workload process; unprofiled and profiled windows alternate.
    Returns {freq or None: [window results]} and the latency run's result."""
    wl_out = os.path.join(args.workdir, "%s.workload.json" % kind)
    roots = set(args.root_frames.split(","))
    proc = start_workload(args, kind, wl_out)
    control = None
    if args.control:
        ctl_out = os.path.join(args.workdir, "%s.control.json" % kind)
        control = start_workload(args, kind, ctl_out)
    time.sleep(0.5)
    seq = []          # (freq or None, result) in time order
    latency = None

    def unprofiled():
        w0, w1 = window(time.monotonic(), args)
        sleep_until(w1 + args.margin)
        seq.append((None, {"window": (w0, w1)}))

    def profiled(freq, tag, seconds=None):
        prof_out = os.path.join(args.workdir, "%s.folded" % tag)
        print("bench: %s ..." % tag, file=sys.stderr, flush=True)
        result = run_profiled(args, proc.pid, freq, prof_out, seconds)
        result["root"], result["notrunc"], result["samples"] = root_shares(prof_out, roots)
        if result.get("bpf_cpu_per_s") is not None and result["samples"]:
            result["bpf_us"] = 1e6 * result["bpf_cpu_per_s"] * (seconds or args.duration) / result["samples"]
        return result

    try:
        for rnd in range(args.rounds):
            order = freqs[rnd % len(freqs):] + freqs[:rnd % len(freqs)]
            for freq in order:
                unprofiled()
                seq.append((freq, profiled(freq, "%s-%d-r%d" % (kind, freq, rnd + 1))))
        unprofiled()
        if args.latency_seconds > 0:
            latency = profiled(max(freqs), "%s-%d-long" % (kind, max(freqs)), args.latency_seconds)
    finally:
        try:
            ends = stop_workload(proc, wl_out)
        finally:
            ctl_ends = stop_workload(control, ctl_out) if control else None
    for freq, r in seq:
        r["ips"] = steady_rate(ends, *r["window"])
        if freq is None:
            w0, w1 = r["window"]
            r["seconds"] = [throughput(ends, w0 + i, w0 + i + 1) for i in range(int(w1 - w0))]
        r["rel"] = steady_rate(ends, *r["window"], control=ctl_ends) if control else r["ips"]
    results = {}
    for i, (freq, r) in enumerate(seq):
        if freq is not None:
            around = [seq[j][1]["rel"] for j in (i - 1, i + 1)
                      if 0 <= j < len(seq) and seq[j][0] is None and seq[j][1]["rel"]]
            base = statistics.mean(around) if around else None
            r["paired"] = r["rel"] / base if base and r["rel"] else None
        results.setdefault(freq, []).append(r)
    return results, latency


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec, suffix=""):
    return "-" if value is None else format(value, spec) + suffix


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    with open(BPF_STATS) as f:
        stats_before = f.read().strip()
    with open(BPF_STATS, "w") as f:
        f.write("1")
    try:
        return run_all(args)
    finally:
        with open(BPF_STATS, "w") as f:
            f.write(stats_before)


def run_all(args):
    if not os.access(args.bin, os.X_OK):
        sys.exit("bench: %s not found (build it first)" % args.bin)
    os.makedirs(args.workdir, exist_ok=True)
    freqs = [int(f) for f in args.freqs.split(",") if f]
    results, latencies = {}, {}
    for kind in args.kinds.split(","):
        per_freq, latencies[kind] = run_kind(args, kind, freqs)
        for freq, runs in per_freq.items():
            results[(kind, freq)] = runs
    print_table(args, results, latencies)
    with open(os.path.join(args.workdir, "results.json"), "w") as f:
        json.dump({"%s@%s" % k: v for k, v in results.items()}, f, indent=1,
                  default=str)
    return 0


def print_table(args, results, latencies):
    print("pybpfprof bench: %s, %d rounds of %g s windows in one workload process "
          "per kind%s, medians (window trimmed %g s each end)"
          % (os.path.basename(args.bin), args.rounds, args.duration,
             " beside its control" if args.control else "", args.margin))
    head = ("workload", "config", "iter/s", "paired ratio (min-max)", "bpf cpu/s", "bpf/target",
            "bpf us/smp",
            "cpu/s total", "cpu/s steady", "root%", "notrunc%", "exit lat.", "samples")
    rows = []
    for (kind, freq), runs in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        paired = [r["paired"] for r in runs if r.get("paired")]
        bpf = median([r.get("bpf_cpu_per_s") for r in runs])
        rows.append((
            kind, "unprofiled" if freq is None else "%d Hz" % freq,
            fmt(median([r["ips"] for r in runs]), ".1f"),
            "-" if freq is None or not paired else "%.3f (%.3f-%.3f)" % (
                median(paired), min(paired), max(paired)),
            fmt(bpf, ".4f"),
            fmt(mul100(median([r.get("bpf_share") for r in runs])), ".2f", "%"),
            fmt(median([r.get("bpf_us") for r in runs]), ".1f"),
            fmt(median([r.get("cpu_total_per_s") for r in runs]), ".3f"),
            fmt(median([r.get("cpu_steady_per_s") for r in runs]), ".3f"),
            fmt(mul100(median([r.get("root") for r in runs])), ".1f"),
            fmt(mul100(median([r.get("notrunc") for r in runs])), ".1f"),
            fmt(median([r.get("exit_latency") for r in runs]), ".2f", " s"),
            fmt(median([r.get("samples") for r in runs]), ".0f"),
        ))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for row in [head] + rows:
        print("  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))
    for (kind, freq), runs in sorted(results.items(), key=lambda kv: kv[0][0]):
        secs = sorted(x for r in runs for x in r.get("seconds", []))
        if freq is None and secs:
            print("%s: host noise, unprofiled one-second rates: median %.0f, slowest %.0f (%.0f%% "
                  "below), 5th percentile %.0f it/s" % (kind, statistics.median(secs), secs[0],
                                                        100 * (1 - secs[0] / statistics.median(secs)),
                                                        secs[len(secs) // 20]))
    for kind, r in latencies.items():
        if r:
            print("%s: a %d s profile at %s Hz was written %.2f s after sampling ended "
                  "(%d samples, pybpfprof %.3f cpu/s)"
                  % (kind, args.latency_seconds, max(int(f) for f in args.freqs.split(",")),
                     r["exit_latency"], r["samples"], r["cpu_total_per_s"]))


def mul100(x):
    return None if x is None else 100 * x


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
