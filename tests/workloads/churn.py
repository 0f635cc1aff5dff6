"""A target that changes under the profiler (Python 3): threads start and
end all the time, each recursing to a random depth, compiling, calling and
freeing functions of its own (new code objects every time), and importing
modules. For the stress test.

The call graph of this file's functions is fixed (check_churn in run.py
knows it): main_loop -> churn_thread -> dive -> dive ... -> work_leaf,
churn_thread -> call_fresh -> fresh_NNNN -> work_leaf,
churn_thread -> load_modules.

usage: churn.py [--duration SECS]
stdout: "READY" once churning.
"""
import importlib
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wl_common  # noqa: E402

MODULES = ["json", "decimal", "fractions", "statistics", "difflib", "textwrap", "csv", "uuid",
           "ipaddress", "calendar", "string", "heapq", "bisect", "colorsys", "shlex"]
FRESH = "def fresh_%d(leaf):\n    return leaf(%d)\n"


def work_leaf(n):
    x = 0
    for i in range(200 + n):
        x += i * i
    return x


def dive(depth):
    if depth <= 0:
        return work_leaf(depth)
    return dive(depth - 1) + 1


def call_fresh(k):
    ns = {}
    exec(compile(FRESH % (k, k % 50), "churn_fresh.py", "exec"), ns)
    r = ns["fresh_%d" % k](work_leaf)
    del ns  # the code object goes with it
    return r


IMPORTS = threading.Lock()


def load_modules(rng):
    with IMPORTS:
        mod = importlib.import_module(rng.choice(MODULES))
        if rng.random() < 0.5:
            importlib.reload(mod)  # its code runs again: new code objects


def churn_thread(seed, stop):
    rng = random.Random(seed)
    end = time.time() + rng.uniform(0.05, 0.3)
    k = seed * 1000
    while time.time() < end and not stop():
        dive(rng.randint(1, 200))
        call_fresh(k)
        k += 1
        if rng.random() < 0.1:
            load_modules(rng)


def main_loop(stop):
    seed = 0
    live = []
    while not stop():
        live = [t for t in live if t.is_alive()]
        while len(live) < 8:
            seed += 1
            t = threading.Thread(target=churn_thread, args=(seed, stop))
            t.daemon = True
            t.start()
            live.append(t)
        time.sleep(0.01)


def main():
    args = wl_common.arg_parser(__doc__).parse_args()
    stop = wl_common.Stop()
    stop.install(args.duration)
    wl_common.announce()
    main_loop(stop)


if __name__ == "__main__":
    main()
