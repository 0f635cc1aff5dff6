"""64 busy threads: half burn CPU in C without the GIL (pptest.burn_nogil,
truly parallel), half in Python. For the overload test (Python 3).

usage: overload.py [--ext-dir DIR] [--duration SECS]
stdout: "READY" once every thread runs.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wl_common  # noqa: E402

THREADS = 64


def c_worker(pptest, stop):
    while not stop():
        pptest.burn_nogil(20)


def py_worker(stop):
    x = 0
    while not stop():
        for i in range(5000):
            x += i * i


def main():
    args = wl_common.arg_parser(__doc__).parse_args()
    pptest = wl_common.import_pptest(args.ext_dir)
    stop = wl_common.Stop()
    stop.install(args.duration)
    threads = []
    for i in range(THREADS):
        fn, fargs = (c_worker, (pptest, stop)) if i % 2 == 0 else (py_worker, (stop,))
        t = threading.Thread(target=fn, args=fargs)
        t.daemon = True
        t.start()
        threads.append(t)
    wl_common.announce()
    for t in threads:
        while t.is_alive():
            t.join(0.2)


if __name__ == "__main__":
    main()
