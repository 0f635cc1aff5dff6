#!/usr/bin/python3
"""pybpfprof overhead benchmark (run as root, e.g. by `make bench`).

For each workload (pure Python, numpy) and each round, runs the workload
unprofiled, profiled at 99 Hz and profiled at 999 Hz (the order rotates per
round so slow drift on a busy 2-core machine hits every configuration),
each for --duration seconds, and reports medians over the rounds of:

  bpf cpu/s    CPU seconds per second spent in the BPF sampler (kernel
               bpf_stats): runs on the sampled CPU, so it is the target's
               direct loss; noise-free, unlike the throughput ratio
  paired ratio the median over rounds of profiled / unprofiled throughput
               within the same round (and its range): the figure to quote,
               as it cancels drift between rounds

  throughput   profiled / unprofiled iterations per second, as counted by the
               workload itself inside the profiled window. This includes the
               BPF program's cost, which the kernel charges to the target.
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
  exit latency time from the end of sampling (start line + --seconds) to the
               profiler's exit with its output written

The measurement window starts --margin seconds after the profiler's first
stderr line (assumed to be printed when it starts sampling; the margin
absorbs the difference) and ends --margin before start + --seconds; the
unprofiled runs use the same window relative to their start.

The workload runs pinned to CPU 0 and pybpfprof to CPU 1 (--no-pin to let
the scheduler place them).

Workloads run with OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1:
one thread does all the work, so throughput does not depend on idle cores.

usage: bench/bench.py [--bin PATH] [--python PATH] [--duration 20]
                      [--rounds 3] [--freqs 99,999] [--kinds python,numpy]
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
    p.add_argument("--duration", type=int, default=20,
                   help="seconds per run (also the profiler's --seconds)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--freqs", default="99,999")
    p.add_argument("--kinds", default="python,numpy")
    p.add_argument("--margin", type=float, default=1.0,
                   help="seconds trimmed from each end of the window")
    p.add_argument("--root-frames", default=ROOT_FRAMES,
                   help="comma-separated frame names that count as the root")
    p.add_argument("--workdir", default=os.path.join(REPO, "build", "bench"))
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


def start_workload(args, kind, out):
    proc = subprocess.Popen([args.python, WORKLOAD, "--kind", kind, "--out", out],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            env=workload_env(), preexec_fn=pinned(args, 0))
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


def run_profiled(args, pid, freq, out):
    """Profile pid for --duration; returns timings and CPU figures."""
    cmd = [args.bin, "--pid", str(pid), "--seconds", str(args.duration),
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
    w0, w1 = window(start, args)
    sleep_until(w0)
    cpu0 = proc_cpu_seconds(proc.pid)
    bpf0 = bpf_run_time_ns()
    sleep_until(w1)
    cpu1 = proc_cpu_seconds(proc.pid)
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
        "cpu_total_per_s": (rusage.ru_utime + rusage.ru_stime) / args.duration,
        "cpu_steady_per_s": steady,
        "exit_latency": exited - (start + args.duration),
        # CPU time spent in the BPF sampler per second: charged to whatever
        # runs on the sampled CPU, i.e. the target's own loss (plus the
        # early-return calls on the other, idle CPU).
        "bpf_cpu_per_s": None if bpf0 is None or bpf1 is None else (bpf1 - bpf0) / 1e9 / (w1 - w0),
    }


def window(start, args):
    return start + args.margin, start + args.duration - args.margin


def throughput(ends, w0, w1):
    """Iterations per second finishing inside [w0, w1]."""
    return sum(1 for t in ends if w0 <= t <= w1) / (w1 - w0)


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

def run_one(args, kind, freq, tag):
    wl_out = os.path.join(args.workdir, "%s.workload.json" % tag)
    prof_out = os.path.join(args.workdir, "%s.folded" % tag)
    proc = start_workload(args, kind, wl_out)
    time.sleep(0.5)
    result = {}
    try:
        if freq is None:
            w0, w1 = window(time.monotonic(), args)
            sleep_until(w1 + args.margin)
        else:
            result = run_profiled(args, proc.pid, freq, prof_out)
            w0, w1 = result["window"]
    finally:
        ends = stop_workload(proc, wl_out)
    result["ips"] = throughput(ends, w0, w1)
    if freq is not None:
        roots = set(args.root_frames.split(","))
        result["root"], result["notrunc"], result["samples"] = \
            root_shares(prof_out, roots)
    return result


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
    configs = [None] + freqs
    results = {}
    for kind in args.kinds.split(","):
        for rnd in range(args.rounds):
            order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
            for freq in order:
                tag = "%s-%s-r%d" % (kind, freq or "none", rnd + 1)
                print("bench: %s ..." % tag, file=sys.stderr, flush=True)
                results.setdefault((kind, freq), []).append(run_one(args, kind, freq, tag))
    print_table(args, results)
    with open(os.path.join(args.workdir, "results.json"), "w") as f:
        json.dump({"%s@%s" % k: v for k, v in results.items()}, f, indent=1,
                  default=str)
    return 0


def print_table(args, results):
    print("pybpfprof bench: %s, %g s per run, %d rounds, medians "
          "(window trimmed %g s each end)" % (os.path.basename(args.bin),
                                             args.duration, args.rounds,
                                             args.margin))
    head = ("workload", "config", "iter/s", "ratio", "paired ratio (min-max)", "bpf cpu/s", "cpu/s total",
            "cpu/s steady", "root%", "notrunc%", "exit lat.", "samples")
    rows = []
    for (kind, freq), runs in results.items():
        base = median([r["ips"] for r in results[(kind, None)]])
        ips = median([r["ips"] for r in runs])
        # Each round ran every config back to back: the ratio within a round
        # cancels the slow drift of a shared machine.
        paired = [r["ips"] / b["ips"] for r, b in zip(runs, results[(kind, None)]) if b["ips"]]
        rows.append((
            kind, "unprofiled" if freq is None else "%d Hz" % freq,
            fmt(ips, ".1f"),
            fmt(ips / base if base else None, ".3f"),
            "-" if freq is None or not paired else "%.3f (%.3f-%.3f)" % (
                median(paired), min(paired), max(paired)),
            fmt(median([r.get("bpf_cpu_per_s") for r in runs]), ".4f"),
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


def mul100(x):
    return None if x is None else 100 * x


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
