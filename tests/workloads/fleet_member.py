"""A member of the fleet test: burns CPU in a function named after its tag,
work_TAG, for a while, then exits. Python 2.7 and 3.x.

usage: fleet_member.py TAG SECONDS
stdout: "READY" once the function is about to run.
"""
from __future__ import print_function

import sys
import time

SOURCE = """
def work_%s(deadline):
    x = 0
    while time.time() < deadline:
        for i in range(2000):
            x += i * i
    return x
"""


def main():
    tag, seconds = sys.argv[1], float(sys.argv[2])
    ns = {"time": time}
    exec(compile(SOURCE % tag, "fleet_member_%s.py" % tag, "exec"), ns)
    print("READY")
    sys.stdout.flush()
    ns["work_" + tag](time.time() + seconds)


if __name__ == "__main__":
    main()
