"""Ground-truth workload: known CPU shares on the main thread.

Each cycle runs four phases on the main thread, under
<module> -> main_loop:
  py_busy          pure-Python arithmetic            (~29% of CPU)
  c_gil_caller     -> pptest.burn_gil   (GIL held)   (~23%)
  c_nogil_caller   -> pptest.burn_nogil (GIL freed)  (~23%)
  callback_caller  -> pptest.call_back(py_callback)  (~23%)
                      py_callback does pure-Python work called from C

The workload measures the thread CPU time of each phase itself and, on
SIGTERM/SIGINT or when --duration ends, writes --truth FILE (JSON):
  {"py_busy": s, "c_gil": s, "c_nogil": s, "py_callback": s,
   "callback_overhead": s, "total": s, "shares": {name: fraction}, ...}
"total" is the main thread's CPU time from READY to the end, so
share = seconds / total is what a CPU sampling profiler should see.

Every phase runs until its own thread-CPU budget is spent (no calibrated
loop counts), so the shares stay at their design values even on a loaded
machine. A cycle is ~85 ms, far shorter than a profile, so the shares are
stationary and the measured window need not match the profiled one exactly.

usage: ground_truth.py [--ext-dir DIR] [--duration SECS] [--truth FILE]
"""
from __future__ import print_function, division

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wl_common  # noqa: E402

# Per-cycle CPU budget of each phase, in milliseconds.
BUSY_MS = 25.0
C_MS = 20.0
CALLBACKS = 10          # py_callback calls per callback_caller phase
CALLBACK_MS = 2.0       # CPU per py_callback call: large vs. call overhead

CHUNK = 2000            # loop iterations between two clock reads (~0.1 ms)

pptest = None
thread_time = None
CALLBACK_SECONDS = [0.0]  # accumulated by py_callback itself


def py_busy(ms):
    end = thread_time() + ms / 1000.0
    x = 0
    while thread_time() < end:
        for i in range(CHUNK):
            x = (x * 31 + i) % 1000003
    return x


def c_gil_caller(ms):
    return pptest.burn_gil(ms)


def c_nogil_caller(ms):
    return pptest.burn_nogil(ms)


def py_callback():
    # Timed from inside so C-side call overhead is excluded; the loop is
    # inline (no helper) so this frame is the leaf Python frame.
    t0 = thread_time()
    end = t0 + CALLBACK_MS / 1000.0
    x = 0
    while thread_time() < end:
        for i in range(CHUNK):
            x = (x * 17 + i) % 999983
    CALLBACK_SECONDS[0] += thread_time() - t0
    return x


def callback_caller(n):
    return pptest.call_back(py_callback, n)


def new_stats():
    return {"py_busy": 0.0, "c_gil": 0.0, "c_nogil": 0.0,
            "py_callback": 0.0, "callback_overhead": 0.0, "cycles": 0}


def one_cycle(stats):
    t0 = thread_time()
    py_busy(BUSY_MS)
    t1 = thread_time()
    c_gil_caller(C_MS)
    t2 = thread_time()
    c_nogil_caller(C_MS)
    t3 = thread_time()
    cb0 = CALLBACK_SECONDS[0]
    callback_caller(CALLBACKS)
    t4 = thread_time()
    cb = CALLBACK_SECONDS[0] - cb0
    stats["py_busy"] += t1 - t0
    stats["c_gil"] += t2 - t1
    stats["c_nogil"] += t3 - t2
    stats["py_callback"] += cb
    stats["callback_overhead"] += (t4 - t3) - cb
    stats["cycles"] += 1


def main_loop(stop, stats):
    while not stop():
        one_cycle(stats)


def setup():
    global pptest, thread_time
    p = wl_common.arg_parser(__doc__.split("\n")[0])
    p.add_argument("--truth", help="write the measured ground truth here")
    args = p.parse_args()
    pptest = wl_common.import_pptest(args.ext_dir)
    thread_time = wl_common.thread_time_fn(pptest)
    # Warm up (3.11+ specialises bytecode on first runs) before measuring.
    for _ in range(3):
        one_cycle(new_stats())
    stop = wl_common.Stop()
    stop.install(args.duration)
    return args, stop


def finish(args, stats, start):
    stats["total"] = thread_time() - start
    names = ("py_busy", "c_gil", "c_nogil", "py_callback", "callback_overhead")
    stats["shares"] = dict((k, stats[k] / stats["total"]) for k in names)
    stats["other"] = stats["total"] - sum(stats[k] for k in names)
    stats["pid"] = os.getpid()
    stats["python"] = sys.version.split()[0]
    if args.truth:
        wl_common.write_json_atomic(args.truth, stats)
    else:
        import json
        print(json.dumps(stats, sort_keys=True))


if __name__ == "__main__":
    ARGS, STOP = setup()
    STATS = new_stats()
    START = thread_time()
    wl_common.announce()
    main_loop(STOP, STATS)
    finish(ARGS, STATS, START)
