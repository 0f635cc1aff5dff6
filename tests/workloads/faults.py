"""Workloads for the fault tests (Python 3).

  faults.py exec            works in before_exec for 1.5 s after READY, then
                            execs /bin/sleep 3
  faults.py dlclose A B [S] loads library A (tests/ext/spinlib.c built with
                            NAME=a), runs spin_a from call_a for 1.5 s,
                            unloads it, loads B (NAME=b) in its place and
                            runs spin_b from call_b for S s (default 1.5)
stdout: "READY", then for dlclose "ADDRS {json}" with both functions'
addresses (the same when B was loaded where A was).
"""
import ctypes
import json
import os
import sys
import time


def burn(seconds):
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        for i in range(2000):
            x += i * i
    return x


def before_exec():
    burn(1.5)


def call_a(lib):
    lib.spin_a(ctypes.c_double(1.5))


def call_b(lib, seconds):
    lib.spin_b(ctypes.c_double(seconds))


def main():
    if sys.argv[1] == "exec":
        print("READY", flush=True)
        before_exec()
        os.execv("/bin/sleep", ["sleep", "3"])
    liba, libb = sys.argv[2], sys.argv[3]
    a = ctypes.CDLL(liba)
    addr_a = ctypes.cast(a.spin_a, ctypes.c_void_p).value
    print("READY", flush=True)
    call_a(a)
    import _ctypes
    handle = a._handle
    del a
    _ctypes.dlclose(handle)
    b = ctypes.CDLL(libb)
    addr_b = ctypes.cast(b.spin_b, ctypes.c_void_p).value
    print("ADDRS " + json.dumps({"a": addr_a, "b": addr_b}), flush=True)
    call_b(b, float(sys.argv[4]) if len(sys.argv) > 4 else 1.5)


if __name__ == "__main__":
    main()
