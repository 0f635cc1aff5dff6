"""Deep-recursion workload: DEPTH nested Python frames, then spin.

Stack on the main thread:
  <module> -> main -> recurse x DEPTH -> recursion_bottom
recursion_bottom prints READY (once the full depth is reached) and spins in
pure Python (and, with --burn-gil, alternately in pptest.burn_gil) until
killed or --duration ends. It never returns to shallower depth before
exiting, so every sample of the main thread has exactly DEPTH recurse frames.

usage: recursion.py [DEPTH] [--ext-dir DIR] [--duration SECS] [--burn-gil] [--via-c]
  DEPTH defaults to 300; the recursion limit is raised to fit.
  --via-c: every level goes through the C extension (recurse ->
  pptest.call_back -> level), so each level is also a native eval
  activation and the C stack grows with DEPTH (on 3.11+, Python-to-Python
  calls alone do not use the C stack).
"""
from __future__ import print_function

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wl_common  # noqa: E402

pptest = None


def bottom_step(n):
    x = 0
    for i in range(n):
        x = (x * 13 + i) % 65521
    return x


def recursion_bottom(stop, burn_gil):
    wl_common.announce()
    while not stop():
        bottom_step(20000)
        if burn_gil:
            pptest.burn_gil(5.0)


def recurse(depth, stop, burn_gil):
    if depth > 1:
        return recurse(depth - 1, stop, burn_gil)
    return recursion_bottom(stop, burn_gil)


def recurse_via_c(depth, stop, burn_gil):
    if depth > 1:
        return pptest.call_back(lambda: recurse_via_c(depth - 1, stop, burn_gil), 1)
    return recursion_bottom(stop, burn_gil)


def main():
    p = wl_common.arg_parser(__doc__.split("\n")[0])
    p.add_argument("depth", type=int, nargs="?", default=300)
    p.add_argument("--burn-gil", action="store_true",
                   help="also call pptest.burn_gil at the bottom")
    p.add_argument("--via-c", action="store_true",
                   help="recurse through pptest.call_back (a C stack per level)")
    args = p.parse_args()
    global pptest
    if args.burn_gil or args.via_c:
        pptest = wl_common.import_pptest(args.ext_dir)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), args.depth + 200))
    stop = wl_common.Stop()
    stop.install(args.duration)
    (recurse_via_c if args.via_c else recurse)(args.depth, stop, args.burn_gil)


if __name__ == "__main__":
    main()
