"""Shared plumbing for the pybpfprof test workloads.

Kept deliberately small and free of hot code: the functions the tests look
for in profiles live in the workload scripts themselves, so their frames
carry the workload's own file name.

Works on Python 2.7 and 3.6+ (no f-strings, no nonlocal).

Conventions shared by every workload:
  --ext-dir DIR    directory holding the built pptest extension
                   (default: $PPTEST_EXT_DIR)
  --duration SECS  run this long after READY, then exit 0 (0 = until killed)
  stdout           optional "TIDS {json}" line, then "READY" once warmed up
  SIGTERM          sets a stop flag; workloads finish their current step,
                   write any result file and exit 0
"""
from __future__ import print_function

import argparse
import json
import os
import signal
import sys
import time

# Deadlines must not jump with the wall clock; 2.7 has no monotonic().
now = getattr(time, "monotonic", time.time)


class Stop(object):
    """Stop flag flipped by SIGTERM/SIGINT or by the --duration deadline."""

    def __init__(self):
        self.flag = False
        self.deadline = None

    def install(self, duration):
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if duration and duration > 0:
            self.deadline = now() + duration

    def _on_signal(self, signum, frame):
        self.flag = True

    def __call__(self):
        if self.flag:
            return True
        if self.deadline is not None and now() >= self.deadline:
            self.flag = True
        return self.flag


def arg_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--ext-dir", default=os.environ.get("PPTEST_EXT_DIR"),
                   help="directory with the built pptest module "
                        "(default: $PPTEST_EXT_DIR)")
    p.add_argument("--duration", type=float, default=0.0,
                   help="seconds to run after READY (0: until killed)")
    return p


def import_pptest(ext_dir, required=True):
    """Import pptest from ext_dir; None if not required and unavailable."""
    if ext_dir:
        sys.path.insert(0, os.path.abspath(ext_dir))
    try:
        import pptest
    except ImportError as e:
        if required:
            sys.stderr.write("workload: cannot import pptest (ext dir %r): %s\n"
                             "build it with tests/ext/build.sh PYTHON OUTDIR\n"
                             % (ext_dir, e))
            sys.exit(2)
        return None
    return pptest


def thread_time_fn(pptest):
    """CPU seconds of the calling thread (time.thread_time is 3.7+)."""
    fn = getattr(time, "thread_time", None)
    if fn is not None:
        return fn
    if pptest is None:
        raise RuntimeError("no thread CPU clock: need Python 3.7+ or pptest")
    return pptest.thread_cpu_time


def native_tid(pptest):
    """Kernel thread id of the caller (threading.get_native_id is 3.8+)."""
    if pptest is not None:
        return pptest.gettid()
    import threading
    return threading.get_native_id()


def announce(tids=None):
    """Tell the harness we are warmed up (and which thread is which)."""
    if tids is not None:
        print("TIDS " + json.dumps(tids, sort_keys=True))
    print("READY")
    sys.stdout.flush()


def write_json_atomic(path, obj):
    """Readers never see a half-written file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.rename(tmp, path)
