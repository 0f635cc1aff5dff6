"""Checks of `pybpfprof dump` output (standard library only).

    parse_dump(text) -> {"gil": str or None, "threads": {tid: Thread}}
    check_dump(dump, tids, bodies) -> [problem, ...]

A dump is a header, then one block per thread: a line
'Thread TID "NAME"[ (main)][, holds the GIL], running|waiting...[, no Python]'
and its frames innermost first, one per line, indented by 4 spaces.
"""
import re

THREAD_RE = re.compile(r'^Thread (\d+) "(.*)"( \(main\))?(, holds the GIL)?, '
                       r'(running|waiting[^,]*|stopped|unknown state)(, no Python)?$')
PYFRAME_RE = re.compile(r"^(.+) \((.+):(\d+)\)$")


class Thread(object):
    def __init__(self, tid, name, main, holds_gil, state, python):
        self.tid = tid
        self.name = name
        self.main = main
        self.holds_gil = holds_gil
        self.state = state
        self.python = python
        self.frames = []    # innermost first

    def py_names(self):
        return [m.group(1) for m in (PYFRAME_RE.match(f) for f in self.frames) if m]


def parse_dump(text):
    """Raises ValueError on a line that is neither header, thread nor frame."""
    dump = {"gil": None, "threads": {}, "header": []}
    cur = None
    for line in text.split("\n"):
        if not line:
            cur = None
            continue
        m = THREAD_RE.match(line)
        if m:
            cur = Thread(int(m.group(1)), m.group(2), bool(m.group(3)), bool(m.group(4)),
                         m.group(5), not m.group(6))
            if cur.tid in dump["threads"]:
                raise ValueError("thread %d printed twice" % cur.tid)
            dump["threads"][cur.tid] = cur
            continue
        if line.startswith("    ") and cur is not None:
            cur.frames.append(line[4:])
            continue
        if cur is None and not dump["threads"]:
            dump["header"].append(line)
            if line.startswith("GIL: "):
                dump["gil"] = line[5:]
            continue
        raise ValueError("unexpected line %r" % line)
    return dump


def check_dump(dump, tids, bodies, running=(), waiting=()):
    """tids: role -> tid; bodies: role -> the Python function only that
    role's thread runs; running/waiting: roles that must show that state.

    Every role's thread is present with its own body among its Python
    frames and no other role's body; frames read innermost first (the
    body is above <module> or the thread bootstrap); at most one thread
    holds the GIL."""
    problems = []
    threads = dump["threads"]
    for role, tid in sorted(tids.items()):
        t = threads.get(tid)
        if t is None:
            problems.append("%s thread %d missing from the dump" % (role, tid))
            continue
        names = t.py_names()
        own = bodies[role]
        if own not in names:
            problems.append("%s thread %d: no %s frame in %s" % (role, tid, own, names))
        for other_role, other in bodies.items():
            if other_role != role and other in names:
                problems.append("%s thread %d shows %s, another thread's code" % (role, tid, other))
        outer = [n for n in ("<module>", "Thread._bootstrap", "_bootstrap") if n in names]
        if own in names and outer and names.index(own) > names.index(outer[0]):
            problems.append("%s thread %d: frames are not innermost first (%s below %s)"
                            % (role, tid, own, outer[0]))
        if not t.python:
            problems.append("%s thread %d is marked 'no Python'" % (role, tid))
        if role in running and t.state != "running":
            problems.append("%s thread %d is %s, expected running" % (role, tid, t.state))
        if role in waiting and not t.state.startswith("waiting"):
            problems.append("%s thread %d is %s, expected waiting" % (role, tid, t.state))
        if (tid == min(tids.values())) != t.main:
            problems.append("%s thread %d: wrong (main) mark" % (role, tid))
    holders = [t.tid for t in threads.values() if t.holds_gil]
    if len(holders) > 1:
        problems.append("%d threads hold the GIL: %s" % (len(holders), holders))
    return problems


SAMPLE = '''Process 42: python3 app.py
Python 3.11.7 (/usr/lib/libpython3.11.so.1.0)
3 threads, stopped for 1.2 ms

Thread 42 "python3" (main), waiting in futex()
    __futex_abstimed_wait_common [libc.so.6]
    Thread.join (/usr/lib/python3.11/threading.py:1112)
    main_body (/app.py:20)
    <module> (/app.py:30)
    Py_BytesMain [python3.11]

Thread 43 "spin", holds the GIL, running
    spin_body (/app.py:10)
    Thread.run (/usr/lib/python3.11/threading.py:975)
    Thread._bootstrap (/usr/lib/python3.11/threading.py:995)
    start_thread [libc.so.6]

Thread 44 "sleeper", waiting in clock_nanosleep()
    clock_nanosleep [libc.so.6]
    sleep_body (/app.py:15)
    Thread._bootstrap (/usr/lib/python3.11/threading.py:995)
'''


def selftest():
    """The checker accepts SAMPLE and rejects each mutation of it."""
    tids = {"main": 42, "spin": 43, "sleeper": 44}
    bodies = {"main": "main_body", "spin": "spin_body", "sleeper": "sleep_body"}
    kw = dict(running=("spin",), waiting=("sleeper", "main"))
    ok = check_dump(parse_dump(SAMPLE), tids, bodies, **kw)
    assert ok == [], ok
    bad = [
        ("missing thread", SAMPLE.replace('Thread 44 "sleeper"', 'Thread 45 "sleeper"')),
        ("foreign body", SAMPLE.replace("sleep_body (/app.py:15)", "spin_body (/app.py:15)")),
        ("two GIL holders", SAMPLE.replace('"python3" (main), waiting', '"python3" (main), holds the GIL, waiting')),
        ("outermost first", SAMPLE.replace("    main_body (/app.py:20)\n    <module> (/app.py:30)",
                                           "    <module> (/app.py:30)\n    main_body (/app.py:20)")),
        ("wrong state", SAMPLE.replace('"spin", holds the GIL, running', '"spin", holds the GIL, waiting in futex()')),
        ("main mark", SAMPLE.replace('"python3" (main),', '"python3",')),
    ]
    for what, text in bad:
        assert check_dump(parse_dump(text), tids, bodies, **kw), "not caught: " + what
    try:
        parse_dump(SAMPLE + "garbage\n")
    except ValueError:
        pass
    else:
        raise AssertionError("garbage line not caught")
