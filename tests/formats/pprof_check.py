#!/usr/bin/python3
"""Checks a pprof profile written by pybpfprof, as its readers see it.

The profile is read by `go tool pprof -top` (the reference reader), and
what it reports is compared with the folded output of the same samples:
  - the total sample count;
  - for the top functions, their own ("flat") samples;
  - for a few of the heaviest, their cumulative ("cum") samples.

pprof names a function by our Function.name: the qualname of a Python
frame (without its "(file:line)"), the symbol of a native one, the symbol
of a kernel one (without "_[k]"), and a marker's text. Process and thread
frames are labels in pprof, not functions, so they are left out here.

Usage:
  pprof_check.py --selftest
  pprof_check.py FILE.pb.gz FILE.folded
Exit status 0 when no problem is found, 1 otherwise (each problem on
stderr). Needs Debian's golang-go (make deps installs it); standard
library only otherwise.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

GO_TIMEOUT = 120                   # seconds for one `go tool pprof` run
TOP_COUNT = 20                     # -nodecount: rows of the table
CUM_CHECKED = 5                    # rows whose cum is compared too

PYFRAME_RE = re.compile(r"^(.+) \((.+?)(?::-?\d+)?\)$")
PROCESS_RE = re.compile(r"^.* \(\d+\)$")
THREAD_RE = re.compile(r"^thread .* \(\d+\)$")
# A native PC the symbolizer could not name: "[libfoo.so+0x1a2b]".
NATIVE_UNNAMED_RE = re.compile(r"^\[[^\]]+\+0x[0-9a-f]+\]$")
ROW_RE = re.compile(r"^\s*(\S+)\s+(\S+%)\s+(\S+%)\s+(\S+)\s+(\S+%)\s+(.+?)\s*$")
HEADER_RE = re.compile(r"^\s*flat\s+flat%\s+sum%\s+cum\s+cum%\s*$")
TOTAL_RE = re.compile(r"Total samples = (\S+)")
SHOWING_RE = re.compile(r"Showing top (\d+) nodes out of (\d+)")
SCALE = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}

# Who a function is to pprof: it tells apart functions of the same name
# only by their mapping, and only native frames have one.
NATIVE, NO_MAPPING = "native", ""


def frame_function(frame, index):
    """(group, name) of a folded frame as pprof names it, or None for the
    process and thread frames (the first two, which pprof keeps as labels)."""
    if index == 0 and PROCESS_RE.match(frame):
        return None
    if index <= 1 and THREAD_RE.match(frame):
        return None
    if frame.endswith("_[k]"):
        return NO_MAPPING, frame[:-len("_[k]")]
    m = PYFRAME_RE.match(frame)
    if m:
        return NO_MAPPING, m.group(1)
    if NATIVE_UNNAMED_RE.match(frame):
        return NATIVE, frame
    if frame.startswith("[") and frame.endswith("]"):
        return NO_MAPPING, frame             # a marker
    return NATIVE, frame


def parse_folded(text):
    """[(frames root first, count)] of folded text; ValueError if malformed."""
    stacks = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        frames, sep, count = line.rpartition(" ")
        if not sep or not frames or not count.isdigit():
            raise ValueError("folded line %d is not 'frames COUNT': %r" % (lineno, line[:200]))
        stacks.append((frames.split(";"), int(count)))
    return stacks


def _stack_parts(stack):
    """Accepts (frames, count) pairs and objects with .frames and .count."""
    if hasattr(stack, "frames"):
        return stack.frames, stack.count
    return stack[0], stack[1]


def expected_counts(stacks):
    """From folded stacks: (flat, cum, total) where flat and cum map
    (group, name) to samples. cum counts a sample once per function, as
    pprof does for recursion."""
    flat, cum, total = {}, {}, 0
    for stack in stacks:
        frames, count = _stack_parts(stack)
        total += count
        funcs = [f for f in (frame_function(fr, i) for i, fr in enumerate(frames)) if f]
        if funcs:
            flat[funcs[-1]] = flat.get(funcs[-1], 0) + count
        for f in set(funcs):
            cum[f] = cum.get(f, 0) + count
    return flat, cum, total


def parse_value(text):
    """A count as pprof prints it ("123", "1.50k"); ValueError otherwise."""
    m = re.match(r"^(-?\d+(?:\.\d+)?)([kMGT]?)$", text)
    if not m:
        raise ValueError("not a count: %r" % text)
    v = float(m.group(1)) * SCALE[m.group(2)]
    return int(round(v))


def parse_top(text):
    """The table of `go tool pprof -top` output: a dict with "total" (the
    total samples, or None), "truncated" (whether rows were left out) and
    "rows", a list of (flat, flat%, sum%, cum, cum%, name) with flat and
    cum as ints and the percentages as floats. ValueError if there is no
    table or a row is malformed."""
    total, truncated, rows, in_table = None, False, [], False
    for line in text.splitlines():
        if not in_table:
            m = TOTAL_RE.search(line)
            if m:
                total = parse_value(m.group(1))
            m = SHOWING_RE.search(line)
            if m:
                truncated = int(m.group(1)) < int(m.group(2))
            if HEADER_RE.match(line):
                in_table = True
            continue
        if not line.strip():
            continue
        m = ROW_RE.match(line)
        if not m:
            raise ValueError("not a -top row: %r" % line)
        rows.append((parse_value(m.group(1)), float(m.group(2)[:-1]), float(m.group(3)[:-1]),
                     parse_value(m.group(4)), float(m.group(5)[:-1]), m.group(6)))
    if not in_table:
        raise ValueError("no 'flat flat% sum% cum cum%' table in the output")
    return {"total": total, "truncated": truncated, "rows": rows}


def compare_top(table, stacks, cum_checked=CUM_CHECKED):
    """Problems (strings) between a parsed -top table and folded stacks."""
    problems = []
    flat, cum, total = expected_counts(stacks)
    if table["total"] is None:
        problems.append("pprof printed no 'Total samples'")
    elif table["total"] != total:
        problems.append("pprof total samples %d, folded %d" % (table["total"], total))
    if not table["rows"]:
        if total:
            problems.append("pprof -top shows no function")
        return problems

    # -top names functions only: one name can be several rows (a native
    # symbol in two libraries, a Python function named like a C one).
    by_name = {}
    for row in table["rows"]:
        by_name.setdefault(row[5], []).append(row)
    groups = {}
    for group, name in set(flat) | set(cum):
        groups.setdefault(name, set()).add(group)
    smallest_flat = min(row[0] for row in table["rows"])

    for name, rows in by_name.items():
        shown = sum(r[0] for r in rows)
        want = sum(flat.get((g, name), 0) for g in groups.get(name, ()))
        if name not in groups:
            problems.append("pprof shows %r (flat %d), which no folded stack has" % (name, shown))
            continue
        if shown == want:
            continue
        # A same-named native function of another library may sit below
        # the rows shown: it can only have as few samples as the last row.
        hidden = want - shown
        if NATIVE in groups[name] and table["truncated"] and 0 < hidden <= smallest_flat:
            continue
        problems.append("%r: pprof flat %d, folded leaf samples %d" % (name, shown, want))

    # cum only where pprof's row is the only function of that name.
    for row in table["rows"][:cum_checked]:
        name = row[5]
        if len(by_name[name]) != 1 or len(groups.get(name, ())) != 1:
            continue
        want = cum.get((next(iter(groups[name])), name), 0)
        if row[3] != want:
            problems.append("%r: pprof cum %d, folded samples under it %d" % (name, row[3], want))

    # flat order: the table must list the heaviest own counts, in order.
    shown_flats = [r[0] for r in table["rows"]]
    if shown_flats != sorted(shown_flats, reverse=True):
        problems.append("pprof -top rows are not by decreasing flat: %r" % shown_flats)
    return problems


def go_env(tmp):
    """An environment in which go runs as root, offline, touching nothing
    outside tmp, and pprof cannot find (so cannot read) any binary."""
    env = dict(os.environ)
    for sub in ("home", "cache", "gopath", "binaries", "pprof"):
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
    env.update({
        "HOME": os.path.join(tmp, "home"),
        "GOCACHE": os.path.join(tmp, "cache"),
        "GOPATH": os.path.join(tmp, "gopath"),
        "PPROF_BINARY_PATH": os.path.join(tmp, "binaries"),
        "PPROF_TMPDIR": os.path.join(tmp, "pprof"),
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOFLAGS": "",
    })
    return env


def run_pprof_top(pb_gz_path, go="go", timeout=GO_TIMEOUT):
    """(output text, problem or None) of `go tool pprof -top` on the file."""
    exe = shutil.which(go)
    if not exe:
        return None, "go is missing (%r not found; Debian package golang-go)" % go
    with tempfile.TemporaryDirectory(prefix="pprof-check-") as tmp:
        cmd = [exe, "tool", "pprof", "-top", "-nodecount=%d" % TOP_COUNT, "-symbolize=none",
               "-sample_index=samples", os.path.abspath(pb_gz_path)]
        try:
            r = subprocess.run(cmd, env=go_env(tmp), cwd=tmp, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, "go tool pprof did not finish in %d s" % timeout
        if r.returncode != 0:
            return None, "go tool pprof failed (exit %d): %s" % (r.returncode, r.stderr.strip()[-500:])
        return r.stdout, None


def check_pprof(pb_gz_path, stacks, go="go", timeout=GO_TIMEOUT):
    """Problems (strings; [] = pass) between the pprof file as go tool pprof
    reads it and stacks, the folded output of the same samples: a list of
    (frames root first, count), or of run.py's Stack objects."""
    if not os.path.isfile(pb_gz_path):
        return ["no pprof file at %s" % pb_gz_path]
    with open(pb_gz_path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            return ["%s is not gzipped" % pb_gz_path]
    text, problem = run_pprof_top(pb_gz_path, go, timeout)
    if problem:
        return [problem]
    try:
        table = parse_top(text)
    except ValueError as e:
        return ["cannot read go tool pprof -top output: %s" % e]
    return compare_top(table, stacks)


# A -top report as go tool pprof prints one, written for this self-test:
# Python functions, a native one, a marker with spaces in its name.
CANNED_TOP = """\
File: python3.11
pybpfprof python3.11 (100): selftest
Type: samples
Time: Jan 2, 2025 at 3:04pm (UTC)
Duration: 5s, Total samples = 130
Showing nodes accounting for 125, 96.15% of 130 total
Showing top 4 nodes out of 6
      flat  flat%   sum%        cum   cum%
        60 46.15% 46.15%         60 46.15%  checksum
        40 30.77% 76.92%        100 76.92%  Job.work
        15 11.54% 88.46%         15 11.54%  [native stack truncated]
        10  7.69% 96.15%        130   100%  <module>
"""

CANNED_FOLDED = """\
python3.11 (100);thread python3.11 (100);<module> (app.py:1);Job.work (app.py:5);checksum 60
python3.11 (100);thread python3.11 (100);<module> (app.py:1);Job.work (app.py:6) 40
python3.11 (100);thread python3.11 (100);<module> (app.py:1);[native stack truncated] 15
python3.11 (100);thread python3.11 (100);<module> (app.py:2) 10
python3.11 (100);thread worker (101);<module> (app.py:1);do_syscall_64_[k] 3
python3.11 (100);thread worker (101);<module> (app.py:1);[libz.so.1+0x10] 2
"""


def selftest():
    """Problems with this module's own parsing and comparing ([] = pass)."""
    problems = []

    def expect(cond, what):
        if not cond:
            problems.append("selftest: " + what)

    table = parse_top(CANNED_TOP)
    expect(table["total"] == 130, "total %r, expected 130" % table["total"])
    expect(table["truncated"], "'top 4 nodes out of 6' not seen as truncated")
    expect([r[5] for r in table["rows"]] ==
           ["checksum", "Job.work", "[native stack truncated]", "<module>"],
           "row names %r" % [r[5] for r in table["rows"]])
    expect(table["rows"][1][:5] == (40, 30.77, 76.92, 100, 76.92), "row 2 %r" % (table["rows"][1],))
    expect(parse_value("1.50k") == 1500 and parse_value("7") == 7, "scaled values")
    for bad in ("no table here\n", CANNED_TOP + "  12 oops\n"):
        try:
            parse_top(bad)
            problems.append("selftest: parse_top accepted %r" % bad[-40:])
        except ValueError:
            pass

    stacks = parse_folded(CANNED_FOLDED)
    expect(frame_function("do_syscall_64_[k]", 3) == (NO_MAPPING, "do_syscall_64"), "kernel frame name")
    expect(frame_function("Job.work (app.py:5)", 3) == (NO_MAPPING, "Job.work"), "Python frame name")
    expect(frame_function("f (app.py)", 3) == (NO_MAPPING, "f"), "Python frame without line")
    expect(frame_function("thread worker (101)", 1) is None, "thread frame not dropped")
    got = compare_top(table, stacks)
    expect(got == [], "a matching profile reported %r" % got)

    # Mismatches that must be reported.
    bad_count = CANNED_FOLDED.replace("checksum 60", "checksum 61")
    got = compare_top(table, parse_folded(bad_count))
    expect(any("checksum" in p for p in got), "a flat mismatch went unreported: %r" % got)
    expect(any("total" in p for p in got), "a total mismatch went unreported: %r" % got)
    moved = CANNED_FOLDED.replace("Job.work (app.py:6) 40", "Job.work (app.py:6);spin 40")
    got = compare_top(table, parse_folded(moved))
    expect(any("Job.work" in p for p in got), "leaf moved to a callee went unreported: %r" % got)
    cum_off = CANNED_TOP.replace("       100 76.92%  Job.work", "        99 76.15%  Job.work")
    got = compare_top(parse_top(cum_off), stacks)
    expect(any("cum" in p for p in got), "a cum mismatch went unreported: %r" % got)
    foreign = CANNED_TOP.replace("checksum", "sha256_block")
    got = compare_top(parse_top(foreign), stacks)
    expect(any("sha256_block" in p for p in got), "an unknown function went unreported: %r" % got)
    got = check_pprof(__file__, stacks)
    expect(got and "not gzipped" in got[0], "a non-gzip file went unreported: %r" % got)
    with tempfile.NamedTemporaryFile(suffix=".pb.gz") as f:
        f.write(b"\x1f\x8b")
        f.flush()
        got = check_pprof(f.name, stacks, go="/nonexistent/go")
    expect(got and "go is missing" in got[0], "a missing go went unreported: %r" % got)
    return problems


def main(argv):
    if argv[1:] == ["--selftest"]:
        problems = selftest()
    elif len(argv) == 3:
        with open(argv[2]) as f:
            problems = check_pprof(argv[1], parse_folded(f.read()))
    else:
        sys.stderr.write(__doc__)
        return 2
    for p in problems:
        sys.stderr.write(p + "\n")
    print("pprof_check: %s" % ("FAIL (%d problems)" % len(problems) if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
