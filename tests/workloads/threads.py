"""Multi-thread workload: every thread runs its own, distinctly named code.

Threads (kernel comm set with prctl so profiles are readable):
  py_spinner  comm "pp-spinner"  py_spinner_main -> py_spinner_body -> py_spinner_step
                                 pure-Python loop, holds the GIL most of the time
  c_nogil     comm "pp-nogil"    c_nogil_thread_main -> c_nogil_thread_body
                                 -> pptest.burn_nogil (pptest_spin_nogil), GIL released
  sleeper     comm "pp-sleeper"  sleeper_main -> sleeper_body -> time.sleep(0.001)
                                 mostly off-CPU: few samples, in the nanosleep path
  main        (comm unchanged)   <module> -> main_join_body -> Thread.join

A profile is correct only if each thread's samples carry ITS OWN Python
stack: e.g. samples of the c_nogil thread never show py_spinner_body.

stdout: "TIDS {json}" mapping role -> native thread id
        ({"main", "py_spinner", "c_nogil", "sleeper"}), then "READY".

usage: threads.py [--ext-dir DIR] [--duration SECS]
"""
from __future__ import print_function

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wl_common  # noqa: E402

pptest = None
TIDS = {}
STARTED = {}


def register(role, comm):
    """Record this thread's native id and give it a readable kernel comm."""
    pptest.set_thread_name(comm)
    TIDS[role] = wl_common.native_tid(pptest)
    STARTED[role].set()


def py_spinner_step(n):
    x = 1
    for i in range(n):
        x = (x * 7 + i) & 0xFFFFF
    return x


def py_spinner_body(stop):
    while not stop():
        py_spinner_step(20000)


def py_spinner_main(stop):
    register("py_spinner", "pp-spinner")
    py_spinner_body(stop)


def c_nogil_thread_body(stop):
    while not stop():
        pptest.burn_nogil(20.0)


def c_nogil_thread_main(stop):
    register("c_nogil", "pp-nogil")
    c_nogil_thread_body(stop)


def sleeper_body(stop):
    while not stop():
        time.sleep(0.001)


def sleeper_main(stop):
    register("sleeper", "pp-sleeper")
    sleeper_body(stop)


def main_join_body(threads, stop):
    # join() with a timeout so the main thread still runs signal handlers.
    while not stop():
        threads[0].join(0.2)
    for t in threads:
        t.join()


def start_threads(stop):
    threads = []
    for role, target in (("py_spinner", py_spinner_main),
                         ("c_nogil", c_nogil_thread_main),
                         ("sleeper", sleeper_main)):
        STARTED[role] = threading.Event()
        t = threading.Thread(target=target, name=role, args=(stop,))
        t.daemon = True
        t.start()
        threads.append(t)
    for role in STARTED:
        STARTED[role].wait(30)
    return threads


if __name__ == "__main__":
    ARGS = wl_common.arg_parser(__doc__.split("\n")[0]).parse_args()
    pptest = wl_common.import_pptest(ARGS.ext_dir)
    STOP = wl_common.Stop()
    STOP.install(ARGS.duration)
    TIDS["main"] = wl_common.native_tid(pptest)
    THREADS = start_threads(STOP)
    time.sleep(0.2)  # let every thread reach its steady loop
    wl_common.announce(TIDS)
    main_join_body(THREADS, STOP)
