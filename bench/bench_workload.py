"""Benchmark workloads for bench/bench.py: fixed units of work in a loop.

  --kind python   CPU-bound pure Python: dict/str/list work and recursion
  --kind numpy    numpy: SVD of a 100x100 matrix and 150x150 matmuls per
                  iteration, with a little Python glue between calls.
                  Run with OPENBLAS_NUM_THREADS=1 (bench.py sets it, and the
                  OMP/MKL equivalents) so one thread does all the work and
                  throughput does not depend on how many cores are idle.

Prints READY once warmed up, then loops until SIGTERM/SIGINT and writes
--out FILE (JSON): {"kind", "ends": [monotonic end time of every
iteration]}. bench.py counts the iterations that end inside the window it
profiled: throughput = iterations per second measured by the workload.

usage: bench_workload.py --kind python|numpy --out FILE
"""
import argparse
import json
import os
import signal
import sys
import time

STOP = [False]


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def python_iteration(state):
    words = ["w%d" % ((i * 7919) % 1009) for i in range(600)]
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ",".join(k for k, _ in ranked[:100])
    state["acc"] = (state["acc"] + len(text) + fib(14)) % 1000003


def make_numpy_iteration():
    import numpy as np
    rng = np.random.default_rng(12345)
    a = rng.standard_normal((100, 100))
    b = rng.standard_normal((150, 150))

    def numpy_iteration(state):
        s = np.linalg.svd(a, compute_uv=False)
        m = b
        for _ in range(4):
            m = m @ b
            m = m / np.abs(m).max()
        state["acc"] = (state["acc"] + float(s[0]) + float(m[0, 0])) % 1000003

    return numpy_iteration


def run_loop(iteration, state, ends):
    clock = time.monotonic
    while not STOP[0]:
        iteration(state)
        ends.append(clock())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kind", choices=("python", "numpy"), required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    iteration = python_iteration if args.kind == "python" else make_numpy_iteration()
    state = {"acc": 0}
    for _ in range(20):            # warm up caches and bytecode specialisation
        iteration(state)
    signal.signal(signal.SIGTERM, lambda *a: STOP.__setitem__(0, True))
    signal.signal(signal.SIGINT, lambda *a: STOP.__setitem__(0, True))
    ends = []
    print("READY", flush=True)
    run_loop(iteration, state, ends)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"kind": args.kind, "ends": ends, "acc": state["acc"]}, f)
    os.rename(tmp, args.out)


if __name__ == "__main__":
    sys.exit(main())
