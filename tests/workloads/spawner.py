"""The --subprocesses test's root: works in work_parent while it starts a
child with subprocess (fleet_member.py, tag c01) and, a second later, a
forked child that works in work_f02 (tag f02); exits when both have.
Python 2.7 and 3.x.

usage: spawner.py
stdout: "CHILDREN {json}" (tag -> pid) then "READY" once both run.
"""
from __future__ import print_function

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def burn(deadline):
    x = 0
    while time.time() < deadline:
        for i in range(2000):
            x += i * i
    return x


def work_parent(deadline):
    return burn(deadline)


def work_f02(deadline):
    return burn(deadline)


def main():
    work_parent(time.time() + 1)
    with open(os.devnull, "w") as null:  # its READY is not ours
        sub = subprocess.Popen([sys.executable, os.path.join(HERE, "fleet_member.py"), "c01", "4"],
                               stdout=null)
    work_parent(time.time() + 1)
    pid = os.fork()
    if pid == 0:
        work_f02(time.time() + 3)
        os._exit(0)
    print("CHILDREN " + json.dumps({"c01": sub.pid, "f02": pid}))
    print("READY")
    sys.stdout.flush()
    while sub.poll() is None:
        work_parent(time.time() + 0.2)
    os.waitpid(pid, 0)
    work_parent(time.time() + 1)


if __name__ == "__main__":
    main()
