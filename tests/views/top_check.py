"""Checks of a `pybpfprof top` screen as tmux captures it (standard library only).

    parse_top(text) -> Screen
    check_top(screen, pid, nthreads, leaders, gil_names) -> [problem, ...]
"""
import re

TITLE_RE = re.compile(r"^pybpfprof top: PID (\d+)\s+Python (\S+)\s+(\d+) Hz\s+"
                      r"(last interval|since start)\s+(\d+) s")
STATUS_RE = re.compile(r"^threads: (\d+)\s+GIL: (.*?)\s+samples: (\d+) \(total (\d+), lost (\d+)\)")
ROW_RE = re.compile(r"^\s*(\d+\.\d)%\s+(\d+\.\d)%\s+(\d+)\s+(\d+)\s+(.+?)\s*$")


class Screen(object):
    def __init__(self):
        self.pid = None
        self.mode = None
        self.threads = None
        self.gil = None
        self.samples = None
        self.rows = []      # (own_pct, total_pct, own, total, function)
        self.keys_line = False


def parse_top(text):
    s = Screen()
    for line in text.split("\n"):
        m = TITLE_RE.match(line)
        if m:
            s.pid, s.mode = int(m.group(1)), m.group(4)
            continue
        m = STATUS_RE.match(line)
        if m:
            s.threads, s.gil, s.samples = int(m.group(1)), m.group(2), int(m.group(3))
            continue
        m = ROW_RE.match(line)
        if m:
            s.rows.append((float(m.group(1)), float(m.group(2)), int(m.group(3)),
                           int(m.group(4)), m.group(5)))
            continue
        if line.startswith("q quit"):
            s.keys_line = True
    return s


def function_name(label):
    """'f (file)' / 'sym [lib]' -> 'f' / 'sym'."""
    return re.sub(r" [\(\[].*$", "", label)


def check_top(s, pid, nthreads, leaders, gil_names, top_n=8, busy=None):
    """leaders: functions that must be among the top_n by own samples;
    busy: {function: least share of the window in its TOTAL column} (a
    Python function on a debug interpreter spends its own time in C
    helpers); gil_names: acceptable GIL texts' thread names (or 'released')."""
    problems = []
    if s.pid != pid:
        problems.append("title names PID %s, expected %d" % (s.pid, pid))
    if s.threads != nthreads:
        problems.append("shows %s threads, expected %d" % (s.threads, nthreads))
    if s.gil is None or not any(s.gil.startswith(g) for g in gil_names):
        problems.append("GIL shows %r, expected one of %s" % (s.gil, gil_names))
    if not s.samples:
        problems.append("no samples in the window")
    if not s.keys_line:
        problems.append("no key help line")
    own = [r[2] for r in s.rows]
    if own != sorted(own, reverse=True):
        problems.append("rows are not sorted by own samples: %s" % own[:10])
    for r in s.rows:
        if r[2] > r[3]:
            problems.append("%s has more own (%d) than total (%d) samples" % (r[4], r[2], r[3]))
        if s.samples and abs(r[0] - 100.0 * r[2] / s.samples) > 0.11:
            problems.append("%s: own %% %.1f does not match %d/%d" % (r[4], r[0], r[2], s.samples))
    names = [function_name(r[4]) for r in s.rows[:top_n]]
    for f in leaders:
        if f not in names:
            problems.append("%s not among the top %d: %s" % (f, top_n, names))
    for f, share in sorted((busy or {}).items()):
        totals = [r[1] for r in s.rows if function_name(r[4]) == f]
        if not totals or max(totals) < 100 * share:
            problems.append("%s has %s%% of the samples in total, expected >= %.0f%%"
                            % (f, max(totals) if totals else 0, 100 * share))
    return problems


SAMPLE = """pybpfprof top: PID 42  Python 3.11.2  99 Hz  last interval  3 s  (python3 app.py)
threads: 3  GIL: spinner (43)  samples: 100 (total 300, lost 0)

  OWN%  TOTAL%      OWN    TOTAL  FUNCTION
 60.0%   60.0%       60       60  spin (/app.py)
 40.0%   40.0%       40       40  c_spin [ext.so]
  0.0%  100.0%        0      100  start_thread [libc.so.6]



q quit  c since start  s sort by total"""


def selftest():
    ok = check_top(parse_top(SAMPLE), 42, 3, ["spin", "c_spin"], ["spinner"], busy={"start_thread": 0.9})
    assert ok == [], ok
    assert check_top(parse_top(SAMPLE), 42, 3, ["spin"], ["spinner"], busy={"c_spin": 0.5}), \
        "not caught: a busy function under its share"
    bad = [
        ("wrong pid", SAMPLE.replace("PID 42", "PID 41")),
        ("thread count", SAMPLE.replace("threads: 3", "threads: 2")),
        ("unsorted", SAMPLE.replace(" 40.0%   40.0%       40", " 70.0%   70.0%       70")),
        ("leader missing", SAMPLE.replace("c_spin [ext.so]", "other [ext.so]")),
        ("gil", SAMPLE.replace("GIL: spinner (43)", "GIL: released")),
        ("percent", SAMPLE.replace(" 60.0%   60.0%       60", " 50.0%   60.0%       60")),
    ]
    for what, text in bad:
        assert check_top(parse_top(text), 42, 3, ["spin", "c_spin"], ["spinner"]), \
            "not caught: " + what
