#!/usr/bin/python3
"""pybpfprof test harness (standard library only; run by /usr/bin/python3).

    tests/run.py [--bin PATH]... [--unit PATH]... [-k SUBSTR] [options]

Runs, in order:
  1. self-tests of this harness's parsers and checkers on handcrafted
     folded samples (tests/data/), including samples that MUST fail;
  2. C unit-test binaries given with --unit (one test each: exit 0 = pass);
  3. end-to-end tests (root only): for every interpreter in INTERPRETERS
     that exists, build tests/ext for it, then run every e2e test against
     every profiler binary given with --bin (default: $PP_BIN or
     build/pybpfprof).

Prints one line per test: "PASS name", "FAIL name: reason" or
"SKIP name: reason" (indented "# ..." lines add detail); after the e2e
tests a table with one row per interpreter (tag, version, samples over its
e2e profiles, worst ground-truth attribution error over all binaries,
pass/FAIL, or SKIPPED with the path of a missing one); and ends with
exactly one line "N passed, N failed, N skipped". Exit status 1 if any
test failed.

Versions and builds that are not installed (an unsupported 3.5, a
free-threaded 3.13) are faked by tests/ext/fakepy.c, compiled with cc
into the work dir.

Artifacts of every e2e test (profile, profiler stderr, ground truth) are
kept under --workdir (default build/test-work/) for post-mortems.
"""
import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, "tests")
sys.path.insert(0, os.path.join(TESTS, "views"))
import dump_check  # noqa: E402
import top_check  # noqa: E402
sys.path.insert(0, os.path.join(TESTS, "formats"))
import pprof_check  # noqa: E402
import speedscope_check  # noqa: E402
import svg_check  # noqa: E402
sys.path.insert(0, os.path.join(TESTS, "fleet"))
import pyroscope_receiver  # noqa: E402
WORKLOADS = os.path.join(TESTS, "workloads")
DATA = os.path.join(TESTS, "data")

# Interpreters the e2e tests run against: (tag, path). A missing one is
# reported as SKIP with its path, never silently ignored.
INTERPRETERS = [
    ("pyenv-2.7.18", "/root/.pyenv/versions/2.7.18/bin/python2.7"),
    ("pyenv-3.6.15", "/root/.pyenv/versions/3.6.15/bin/python3.6"),
    ("pyenv-3.7.16", "/root/.pyenv/versions/3.7.16/bin/python3.7"),
    ("pyenv-3.8.18", "/root/.pyenv/versions/3.8.18/bin/python3.8"),
    ("pyenv-3.9.18", "/root/.pyenv/versions/3.9.18/bin/python3.9"),
    ("pyenv-3.10.13", "/root/.pyenv/versions/3.10.13/bin/python3.10"),
    ("debian-3.11", "/usr/bin/python3.11"),
    ("debian-3.11-dbg", "/usr/bin/python3.11-dbg"),
    ("pyenv-3.11.7", "/root/.pyenv/versions/3.11.7/bin/python3.11"),
    ("pyenv-3.12.1", "/root/.pyenv/versions/3.12.1/bin/python3.12"),
    ("pyenv-3.13.0", "/root/.pyenv/versions/3.13.0/bin/python3.13"),
]

DEFAULT_SECONDS = 5
DEFAULT_FREQUENCY = 499
NONEXISTENT_PID = 4194303          # above any Linux pid_max (2^22)

SHARE_TOLERANCE = 0.03             # ground truth: +-3 percentage points
MODULE_FRAME_MIN = 0.95            # share of samples under <module>
NESTING_MIN = 1.0                  # share of C samples under their caller
MARKED_MAX = 0.01                  # ... of which this share may show a read marker instead
READ_MARKERS = ("[unknown]", "[truncated]", "[native stack truncated]")
SPIN_UNDER_BURN_MIN = 0.90         # pptest_burn_* followed by pptest_spin_*
SAMPLE_RATE_BOUNDS = (0.5, 1.15)   # main-thread samples / (freq * seconds)
THREAD_MIN_SAMPLES = 50

GT_NAMES = ("py_busy", "c_gil", "c_nogil", "py_callback")
THREAD_BODIES = {
    "main": "main_join_body",
    "py_spinner": "py_spinner_body",
    "c_nogil": "c_nogil_thread_body",
    "sleeper": "sleeper_body",
}
THREAD_COMMS = {"py_spinner": "pp-spinner", "c_nogil": "pp-nogil",
                "sleeper": "pp-sleeper"}
MARK_TRUNCATED = "[truncated]"
MARK_NATIVE_TRUNCATED = "[native stack truncated]"


# --------------------------------------------------------------------------
# Folded-stack parsing
# --------------------------------------------------------------------------

FOLDED_RE = re.compile(r"^(.+) (\d+)$")
PYFRAME_RE = re.compile(r"^(.+) \((.+):(-?\d+)\)$")
PROCESS_RE = re.compile(r"^(.*) \((\d+)\)$")
THREAD_RE = re.compile(r"^thread (.*) \((\d+)\)$")


class ParseError(Exception):
    pass


class Stack:
    """One folded line: frames root first, and its sample count."""

    __slots__ = ("frames", "count", "line")

    def __init__(self, frames, count, line):
        self.frames = frames
        self.count = count
        self.line = line

    @property
    def tid(self):
        m = THREAD_RE.match(self.frames[1]) if len(self.frames) > 1 else None
        return int(m.group(2)) if m else None

    def __repr__(self):
        return "Stack(%r)" % self.line


def parse_folded(text):
    """Parse folded output; raise ParseError on any malformed line.

    Frames are split on ';' (a ';' inside a file name would break this;
    test workloads have no such names)."""
    stacks = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        m = FOLDED_RE.match(line)
        if not m:
            raise ParseError("line %d is not 'frames COUNT': %r"
                             % (lineno, line[:200]))
        frames = m.group(1).split(";")
        if any(f == "" for f in frames):
            raise ParseError("line %d has an empty frame: %r"
                             % (lineno, line[:200]))
        stacks.append(Stack(frames, int(m.group(2)), line))
    return stacks


def py_frame(frame):
    """(qualname, filename, line) of a Python frame, else None."""
    m = PYFRAME_RE.match(frame)
    if not m:
        return None
    return m.group(1), m.group(2), int(m.group(3))


def is_py(frame):
    return PYFRAME_RE.match(frame) is not None


def py_index(frames, qualname, filename=None, start=0):
    """Index of the first Python frame named qualname at or after start."""
    for i in range(start, len(frames)):
        p = py_frame(frames[i])
        if p and p[0] == qualname and (filename is None or p[1] == filename):
            return i
    return -1


def native_index(frames, name, start=0):
    for i in range(start, len(frames)):
        if frames[i] == name:
            return i
    return -1


def has_py(stack, qualname, filename=None):
    return py_index(stack.frames, qualname, filename) >= 0


def has_native(stack, name):
    return native_index(stack.frames, name) >= 0


def count_py(stack, qualname):
    return sum(1 for f in stack.frames
               if (py_frame(f) or ("",))[0] == qualname)


def total(stacks):
    return sum(s.count for s in stacks)


def of_thread(stacks, tid):
    return [s for s in stacks if s.tid == tid]


def example(stacks, limit=300):
    """A short printable example of an offending stack."""
    if not stacks:
        return ""
    line = stacks[0].line
    return " e.g. %s" % (line if len(line) <= limit else "..." + line[-limit:])


def source_line(path, needle):
    """1-based number of the single line of path that contains needle."""
    with open(path) as f:
        hits = [i for i, l in enumerate(f, 1) if needle in l]
    if len(hits) != 1:
        raise ValueError("%r occurs %d times in %s" % (needle, len(hits), path))
    return hits[0]


# --------------------------------------------------------------------------
# Checkers: pure functions returning a list of problems ([] = pass)
# --------------------------------------------------------------------------

def check_structure(stacks, pid, comm=None, threads=True):
    """Contract checks that hold for every profile of process pid (without
    the thread frame when threads is False)."""
    problems = []
    seen = set()
    for s in stacks:
        if s.count <= 0:
            problems.append("non-positive count: %r" % s.line[:200])
        if len(s.frames) < 2:
            problems.append("fewer than 2 frames: %r" % s.line[:200])
            continue
        m = PROCESS_RE.match(s.frames[0])
        if not m or int(m.group(2)) != pid:
            problems.append("frame 1 is not 'COMM (%d)': %r" % (pid, s.frames[0]))
        elif comm is not None and m.group(1) != comm:
            problems.append("frame 1 comm %r != %r" % (m.group(1), comm))
        if threads and not THREAD_RE.match(s.frames[1]):
            problems.append("frame 2 is not 'thread COMM (TID)': %r" % s.frames[1])
        key = ";".join(s.frames)
        if key in seen:
            problems.append("stack printed twice: %r" % s.line[:200])
        seen.add(key)
        if len(problems) > 5:
            break
    return problems


def check_caller_lines(stacks, filename, edges):
    """Line numbers of calling Python frames.

    edges: (caller_qualname, callee, expected_line). A caller frame whose
    next Python-or-callee frame is callee must show expected_line (the line
    of the call). callee is a Python qualname or an exact native name."""
    problems = []
    for caller, callee, want in edges:
        bad = []          # (stack, line shown)
        for s in stacks:
            got = caller_line(s.frames, caller, filename, callee)
            if got is not None and got != want:
                bad.append((s, got))
        if bad:
            problems.append("%d samples show %s calling %s at line %d, "
                            "expected line %d;%s"
                            % (total([b[0] for b in bad]), caller, callee,
                               bad[0][1], want, example([bad[0][0]])))
    return problems


def caller_line(frames, caller, filename, callee):
    """Line of the caller frame directly calling callee, else None.

    Native frames other than callee between the two are skipped (hidden
    interpreter machinery may or may not be shown)."""
    i = py_index(frames, caller, filename)
    while i >= 0:
        for j in range(i + 1, len(frames)):
            p = py_frame(frames[j])
            if frames[j] == callee or (p and p[0] == callee):
                return py_frame(frames[i])[2]
            if p:
                break
        i = py_index(frames, caller, filename, i + 1)
    return None


def check_sample_rate(n, frequency, cpu_seconds, what):
    """n samples of a thread that ran cpu_seconds on a CPU."""
    lo, hi = SAMPLE_RATE_BOUNDS
    expected = frequency * cpu_seconds
    if not lo * expected <= n <= hi * expected:
        return ["%s has %d samples, expected %d..%d (%d Hz x %.2f s of CPU)"
                % (what, n, lo * expected, hi * expected, frequency, cpu_seconds)]
    return []


def nested(stacks, outer, inner):
    """Split stacks into (ok, bad): outer must precede inner.

    outer/inner: ("py", qualname) or ("native", name)."""
    ok, bad = [], []
    for s in stacks:
        i = locate(s.frames, outer)
        j = locate(s.frames, inner, i + 1 if i >= 0 else 0)
        (ok if i >= 0 and j > i else bad).append(s)
    return ok, bad


def locate(frames, what, start=0):
    kind, name = what
    if kind == "py":
        return py_index(frames, name, None, start)
    return native_index(frames, name, start)


def check_nesting(stacks, outer, inner, min_fraction=NESTING_MIN):
    """Of the stacks containing inner, min_fraction must have outer above."""
    having = [s for s in stacks if locate(s.frames, inner) >= 0]
    if not having:
        return ["no sample contains %s" % inner[1]]
    ok, bad = nested(having, outer, inner)
    # A frame that could not be read shows as a marker in its place: not a
    # wrong stack, as long as such samples stay rare.
    marked = [s for s in bad if any(f in READ_MARKERS for f in s.frames[:locate(s.frames, inner)])]
    bad = [s for s in bad if s not in marked]
    if total(marked) > MARKED_MAX * total(having):
        return ["%d of %d samples with %s show a marker instead of %s above it;%s"
                % (total(marked), total(having), inner[1], outer[1], example(marked))]
    if total(ok) < min_fraction * (total(having) - total(marked)):
        return ["%d of %d samples with %s lack %s above it;%s"
                % (total(bad), total(having), inner[1], outer[1], example(bad))]
    return []


def ground_truth_shares(stacks):
    """Sample shares of the ground-truth phases among the given stacks."""
    n = total(stacks)
    sel = {
        "py_busy": lambda s: has_py(s, "py_busy"),
        "c_gil": lambda s: has_native(s, "pptest_burn_gil"),
        "c_nogil": lambda s: has_native(s, "pptest_burn_nogil"),
        "py_callback": lambda s: has_py(s, "py_callback"),
    }
    return {k: (total([s for s in stacks if f(s)]) / n if n else 0.0)
            for k, f in sel.items()}


def check_ground_truth(stacks, truth, pid, script, frequency, seconds):
    """Shares vs. the workload's own measurement, nesting, lines, <module>."""
    main = of_thread(stacks, pid)
    n = total(main)
    if n == 0:
        return ["no samples for the main thread (tid %d)" % pid]
    problems = check_sample_rate(n, frequency, seconds, "main thread")
    shares = ground_truth_shares(main)
    for k in GT_NAMES:
        want = truth["shares"][k]
        if abs(shares[k] - want) > SHARE_TOLERANCE:
            problems.append("%s share %.1f%% vs measured %.1f%% (tolerance "
                            "%.0f pp)" % (k, 100 * shares[k], 100 * want,
                                          100 * SHARE_TOLERANCE))
    problems += check_nesting(main, ("py", "c_gil_caller"),
                              ("native", "pptest_burn_gil"))
    problems += check_nesting(main, ("py", "c_nogil_caller"),
                              ("native", "pptest_burn_nogil"))
    problems += check_nesting(main, ("py", "callback_caller"),
                              ("native", "pptest_call_back"))
    problems += check_nesting(main, ("native", "pptest_call_back"),
                              ("py", "py_callback"))
    # DWARF unwinding through the -O2 extension: spin helpers are not
    # inlined, so nearly every burn sample also has the spin frame below.
    problems += check_nesting(main, ("native", "pptest_burn_gil"),
                              ("native", "pptest_spin_gil"),
                              SPIN_UNDER_BURN_MIN)
    problems += check_nesting(main, ("native", "pptest_burn_nogil"),
                              ("native", "pptest_spin_nogil"),
                              SPIN_UNDER_BURN_MIN)
    with_module = [s for s in main if has_py(s, "<module>", script)]
    if total(with_module) < MODULE_FRAME_MIN * n:
        without = [s for s in main if not has_py(s, "<module>", script)]
        problems.append("only %.1f%% of samples contain '<module> (%s:…)' "
                        "(need %.0f%%);%s"
                        % (100.0 * total(with_module) / n, script,
                           100 * MODULE_FRAME_MIN, example(without)))
    line = lambda needle: source_line(script, needle)  # noqa: E731
    problems += check_caller_lines(main, script, [
        ("<module>", "main_loop", line("main_loop(STOP, STATS)")),
        ("main_loop", "one_cycle", line("    one_cycle(stats)")),
        ("one_cycle", "py_busy", line("py_busy(BUSY_MS)")),
        ("one_cycle", "c_gil_caller", line("c_gil_caller(C_MS)")),
        ("one_cycle", "c_nogil_caller", line("c_nogil_caller(C_MS)")),
        ("one_cycle", "callback_caller", line("callback_caller(CALLBACKS)")),
        ("c_gil_caller", "pptest_burn_gil", line("return pptest.burn_gil(ms)")),
        ("c_nogil_caller", "pptest_burn_nogil",
         line("return pptest.burn_nogil(ms)")),
        ("callback_caller", "pptest_call_back",
         line("return pptest.call_back(py_callback, n)")),
    ])
    return problems


def check_threads(stacks, tids):
    """Every thread's Python samples carry its own body, never another's."""
    problems = []
    for role, tid in sorted(tids.items()):
        own = THREAD_BODIES[role]
        others = [b for r, b in THREAD_BODIES.items() if r != role]
        mine = of_thread(stacks, tid)
        with_py = [s for s in mine if any(is_py(f) for f in s.frames)]
        missing = [s for s in with_py if not has_py(s, own)]
        if missing:
            problems.append("%s thread (%d): %d samples with Python frames "
                            "lack %s;%s" % (role, tid, total(missing), own,
                                            example(missing)))
        foreign = [s for s in mine if any(has_py(s, b) for b in others)]
        if foreign:
            problems.append("%s thread (%d): %d samples show another thread's "
                            "body;%s" % (role, tid, total(foreign),
                                         example(foreign)))
        comm = THREAD_COMMS.get(role)
        wrong = [s for s in mine if comm and s.frames[1] != "thread %s (%d)"
                 % (comm, tid)]
        if wrong:
            problems.append("%s thread: frame 2 is %r, expected %r"
                            % (role, wrong[0].frames[1],
                               "thread %s (%d)" % (comm, tid)))
        if role in ("py_spinner", "c_nogil") and total(mine) < THREAD_MIN_SAMPLES:
            problems.append("%s thread (%d) has %d samples, need >= %d"
                            % (role, tid, total(mine), THREAD_MIN_SAMPLES))
    nogil = of_thread(stacks, tids["c_nogil"])
    ok, _ = nested(nogil, ("py", "c_nogil_thread_body"),
                   ("native", "pptest_spin_nogil"))
    if total(ok) < 0.5 * total(nogil):
        problems.append("only %d of %d c_nogil samples show pptest_spin_nogil "
                        "under c_nogil_thread_body" % (total(ok), total(nogil)))
    known = set(tids.values())
    strangers = sorted({s.tid for s in stacks} - known, key=str)
    if strangers:
        problems.append("samples from unknown threads %s" % strangers)
    return problems


def check_recursion(stacks, depth, markers):
    """Samples at the bottom have all `depth` recurse frames or a marker.

    Returns (problems, number of samples with full depth, truncated)."""
    bottom = [s for s in stacks if has_py(s, "recursion_bottom")]
    if not bottom:
        return ["no sample contains recursion_bottom"], 0, 0
    problems = []
    full = [s for s in bottom if count_py(s, "recurse") == depth]
    too_many = [s for s in bottom if count_py(s, "recurse") > depth]
    marked = [s for s in bottom if count_py(s, "recurse") < depth
              and any(m in s.frames for m in markers)]
    silent = [s for s in bottom if count_py(s, "recurse") < depth
              and not any(m in s.frames for m in markers)]
    if too_many:
        problems.append("%d samples have more than %d recurse frames"
                        % (total(too_many), depth))
    if silent:
        problems.append("%d samples silently lost recurse frames (have %d of "
                        "%d, no %s marker)" % (total(silent),
                                               count_py(silent[0], "recurse"),
                                               depth, " or ".join(markers)))
    return problems, total(full), total(marked)


# Call shapes (tests/workloads/shapes.py) ---------------------------------

SHAPE_MIN_SAMPLES = 10             # leaf samples per shape, at least (a floor, not a rate)
SHAPE_MARKED_MAX = 0.01            # leaf samples exempt because marked
SHAPE_MARKS = (MARK_TRUNCATED, MARK_NATIVE_TRUNCATED, "[unknown]")
MARKER_RE = re.compile(r"#\s@(\S+)")
ASYNCIO_DIR = os.sep + "asyncio" + os.sep


def source_markers(path):
    """{ID: line} of the '# @ID' comments of a source file (IDs unique)."""
    marks = {}
    with open(path) as f:
        for lineno, text in enumerate(f, 1):
            m = MARKER_RE.search(text)
            if m:
                if m.group(1) in marks:
                    raise ValueError("marker @%s twice in %s" % (m.group(1), path))
                marks[m.group(1)] = lineno
    return marks


def def_range(path, name):
    """(def line, last non-blank body line) of the function `def name(`."""
    with open(path) as f:
        lines = f.read().split("\n")
    starts = [i for i, l in enumerate(lines) if l.lstrip().startswith("def %s(" % name)]
    if len(starts) != 1:
        raise ValueError("def %s( occurs %d times in %s" % (name, len(starts), path))
    first = starts[0]
    indent = len(lines[first]) - len(lines[first].lstrip())
    last = first
    for i in range(first + 1, len(lines)):
        text = lines[i]
        if text.strip() == "":
            continue
        if len(text) - len(text.lstrip()) <= indent:
            break
        last = i
    return first + 1, last + 1


def frame_name(qualname, version):
    """How the profiler names a code object: co_qualname from 3.11, co_name before."""
    if version >= (3, 11):
        return qualname
    return qualname.rsplit(".", 1)[-1]


def shape_chains(version):
    """[(shape, leaf, chain)]: the frames expected above each leaf, root first.

    Chain elements: ("py", qualname, ID) a Python frame of shapes.py whose line
    is that of marker @ID (None: the leaf, anywhere in its function);
    ("native", name) a native frame, once, between the neighbouring Python
    frames; ("native?", name) likewise if the sample has it at all (a
    stripped interpreter has no names for static functions);
    ("asyncio",) one or more Python frames of the asyncio package."""
    def py(qualname, marker=None):
        return ("py", qualname, marker)

    def shape(name, leaf, fn, *middle):
        chain = [py("<module>", "module.main_loop"), py("main_loop", "main_loop.one_round"),
                 py("one_round", "one_round." + fn)] + list(middle) + [py(leaf)]
        return (name, leaf, chain)

    if version >= (3, 7):
        run = "shape_coroutine.asyncio_run"
    else:
        run = "shape_coroutine.run_until_complete"
    # List comprehensions have their own frame from 3.0 up to 3.11 (PEP 709).
    listcomp = [py("shape_listcomp.<locals>.<listcomp>", "shape_listcomp.listcomp")] \
        if (3, 0) <= version < (3, 12) else []
    return [
        shape("generator", "leaf_generator", "shape_generator",
              py("shape_generator", "shape_generator.gen_source"),
              py("gen_source", "gen_source.leaf_generator")),
        shape("pipeline.inner", "leaf_pipe_inner", "shape_pipeline",
              py("shape_pipeline", "shape_pipeline.pipe_outer"),
              py("pipe_outer", "pipe_outer.pipe_inner"),
              py("pipe_inner", "pipe_inner.leaf_pipe_inner")),
        shape("pipeline.outer", "leaf_pipe_outer", "shape_pipeline",
              py("shape_pipeline", "shape_pipeline.pipe_outer"),
              py("pipe_outer", "pipe_outer.leaf_pipe_outer")),
        shape("coroutine", "leaf_coroutine", "shape_coroutine",
              py("shape_coroutine", run), ("asyncio",), ("native?", "task_step"),
              py("co_outer", "co_outer.co_inner"),
              py("co_inner", "co_inner.leaf_coroutine")),
        shape("lambda", "leaf_lambda", "shape_lambda",
              py("shape_lambda", "shape_lambda.lambda"),
              py("shape_lambda.<locals>.<lambda>", "shape_lambda.lambda")),
        shape("sort_key", "leaf_sort_key", "shape_sort_key",
              py("shape_sort_key", "shape_sort_key.lambda"), ("native?", "builtin_sorted"),
              py("shape_sort_key.<locals>.<lambda>", "shape_sort_key.lambda")),
        shape("genexpr", "leaf_genexpr", "shape_genexpr",
              py("shape_genexpr", "shape_genexpr.genexpr"), ("native?", "builtin_sum"),
              py("shape_genexpr.<locals>.<genexpr>", "shape_genexpr.genexpr")),
        shape("listcomp", "leaf_listcomp", "shape_listcomp",
              py("shape_listcomp", "shape_listcomp.listcomp"), *listcomp),
        shape("class_body", "leaf_class_body", "shape_class_body",
              py("shape_class_body", "shape_class_body.Body"),
              ("native?", "builtin___build_class__"),
              py("shape_class_body.<locals>.Body", "Body.leaf_class_body")),
        shape("callback", "leaf_callback", "shape_callback",
              py("shape_callback", "shape_callback.callback_target"),
              ("native", "pptest_call_back"), ("native?", "pptest_invoke"),
              py("callback_target", "callback_target.leaf_callback")),
        shape("method", "leaf_method", "shape_method",
              py("shape_method", "shape_method.Worker.method"),
              py("Worker.method", "Worker.method.leaf_method")),
    ]


def shape_side_chains():
    """Chains of shapes.py code that is not on the way to a leaf: the
    deadline of each shape, and (3.11+) pipe_inner's generator being created
    by shape_pipeline, before pipe_outer runs."""
    root = [("py", "<module>", "module.main_loop"), ("py", "main_loop", "main_loop.one_round")]
    return [root + [("py", "one_round", "one_round.*"), ("py", "deadline", None)],
            root + [("py", "one_round", "one_round.shape_pipeline"),
                    ("py", "shape_pipeline", "shape_pipeline.pipe_outer"),
                    ("py", "pipe_inner", None)]]


def match_chain(frames, chain, script, marks, version, prefix=False):
    """None if the Python frames of a sample are exactly chain, else why not.

    prefix: the sample may stop anywhere along the chain (a sample in a
    caller rather than the leaf), followed only by Python frames of other
    files (e.g. wl_common's stop check, asyncio's event loop); the line of
    the last shapes.py frame is then free."""
    return match_chain_depth(frames, chain, script, marks, version, prefix)[0]


def match_chain_depth(frames, chain, script, marks, version, prefix=False):
    """(why not or None, Python frames matched): see match_chain."""
    pys = [(i, py_frame(f)) for i, f in enumerate(frames) if is_py(f)]
    k = 0               # next Python frame of the sample
    last_i = -1         # frames index of the last matched Python frame
    natives = []        # native frames due between last_i and the next match
    for n, el in enumerate(chain):
        if el[0] in ("native", "native?"):
            natives.append((el[1], el[0] == "native"))
            continue
        if el[0] == "asyncio":
            start = k
            while k < len(pys) and ASYNCIO_DIR in pys[k][1][1]:
                k += 1
            if k == start and not prefix:
                return ("no asyncio frame between %s and %s"
                        % (chain[n - 1][1], chain[n + 1][1]), k)
            if k > start:
                last_i = pys[k - 1][0]
            continue
        want = frame_name(el[1], version)
        if k == len(pys):
            return (None if prefix else "the chain stops before %s" % want), k
        i, (name, path, line) = pys[k]
        if prefix and path != script and n > 0:
            break       # the rest must be other files' frames (checked below)
        if name != want or path != script:
            return ("Python frame %d is %r, expected %s (%s)"
                    % (k + 1, frames[i], want, os.path.basename(script)), k)
        for nat, required in natives:
            if (required or nat in frames) and (nat not in frames[last_i + 1:i]
                                                or frames.count(nat) != 1):
                return ("native %s %s between %s and %s"
                        % (nat, "not (only)" if nat in frames else "missing",
                           frames[last_i], frames[i]), k)
        natives = []
        last = not any(p[1] == script for _, p in pys[k + 1:])
        if el[2] is None:
            lo, hi = def_range(script, el[1].rsplit(".", 1)[-1])
            if not lo <= line <= hi and not (prefix and last):
                return ("%s at line %d, outside its body (%d-%d)"
                        % (want, line, lo, hi), k)
        elif not (prefix and last):
            if el[2].endswith("*"):
                ok = [v for m, v in marks.items() if m.startswith(el[2][:-1])]
            else:
                ok = [marks[el[2]]]
            if line not in ok:
                return ("%s at line %d, expected %s"
                        % (want, line, " or ".join(str(v) for v in sorted(ok))), k)
        last_i = i
        k += 1
    rest = pys[k:]
    if rest and not prefix:
        return "Python frame %r below the leaf" % frames[rest[0][0]], k
    stray = [i for i, p in rest if p[1] == script]
    if stray:
        return "shapes.py frame %r out of place" % frames[stray[0]], k
    return None, k


def check_shapes(stacks, pid, script, version, shapes_run):
    """Each shape's leaf samples carry exactly their chain; every other
    sample of shapes.py code is a prefix of some chain.

    Returns (problems, {shape: leaf samples}, marked samples)."""
    marks = source_markers(script)
    main = of_thread(stacks, pid)
    chains = [c for c in shape_chains(version) if c[0].split(".")[0] in shapes_run]
    leaves = {c[1]: c for c in chains}
    shape_of_leaf = {c[1]: c[0] for c in chains}
    all_leaves = set(c[1] for c in shape_chains(version))
    problems, counts, marked = [], {}, 0
    bad = {}            # shape or "other" -> [count, first reason, first stack]

    def misplaced(key, s, why):
        bad.setdefault(key, [0, why, s])[0] += s.count

    for s in main:
        names = set(p[0] for p in (py_frame(f) for f in s.frames) if p and p[1] == script)
        hit = [l for l in names if l in all_leaves]
        is_marked = any(m in s.frames for m in SHAPE_MARKS)
        if "<module>" not in names and not is_marked:
            # All of this thread's code runs under <module>: a sample without
            # it lost its outer Python frames and does not say so.
            misplaced(shape_of_leaf.get(hit[0], "other") if hit else "other", s,
                      "no <module> frame of %s and no marker" % os.path.basename(script))
            continue
        if len(hit) > 1:
            misplaced("other", s, "two leaves in one sample")
            continue
        if hit:
            if hit[0] not in leaves:
                misplaced("other", s, "leaf %s of a shape that did not run" % hit[0])
                continue
            shape, leaf, chain = leaves[hit[0]]
            counts[shape] = counts.get(shape, 0) + s.count
            if is_marked:
                marked += s.count
                continue
            why = match_chain(s.frames, chain, script, marks, version)
            if why:
                misplaced(shape, s, why)
        elif names and not is_marked:
            tries = [match_chain_depth(s.frames, c, script, marks, version, prefix=True)
                     for c in [c[2][:-1] for c in chains] + shape_side_chains()]
            if all(why for why, _ in tries):
                # the reason from the chain that fits this sample longest
                misplaced("other", s, max(tries, key=lambda t: t[1])[0])
    for shape, (n, why, s) in sorted(bad.items()):
        problems.append("%s: %d samples misplaced (%s);%s" % (shape, n, why, example([s], 600)))
    for shape, leaf, _ in chains:
        if counts.get(shape, 0) < SHAPE_MIN_SAMPLES:
            problems.append("%s: %d samples in %s, need >= %d" % (
                shape, counts.get(shape, 0), leaf, SHAPE_MIN_SAMPLES))
    in_leaves = sum(counts.values())
    if marked > SHAPE_MARKED_MAX * max(in_leaves, 1):
        problems.append("%d of %d leaf samples are marked incomplete (%s), more than %.0f%%"
                        % (marked, in_leaves, "/".join(SHAPE_MARKS), 100 * SHAPE_MARKED_MAX))
    return problems, counts, marked


def check_clean_error(run, output_path=None):
    """The error contract: exit 1, one stderr line, no output file."""
    problems = run.crash_problems()
    if run.rc != 1:
        problems.append("exit code %s, expected 1" % run.rc)
    lines = [l for l in run.stderr.strip().split("\n") if l.strip()]
    if len(lines) != 1:
        problems.append("stderr has %d lines, expected 1: %r"
                        % (len(lines), run.stderr[-500:]))
    if output_path and os.path.lexists(output_path) \
            and not os.path.isdir(output_path):
        problems.append("output file %s was created" % output_path)
    return problems


def check_profile_text(text, pid, min_samples=1, threads=True):
    """Parseable folded text with at least min_samples samples."""
    try:
        stacks = parse_folded(text)
    except ParseError as e:
        return ["unparseable output: %s" % e], []
    problems = check_structure(stacks, pid, threads=threads)
    if total(stacks) < min_samples:
        problems.append("%d samples, expected >= %d" % (total(stacks), min_samples))
    return problems, stacks


# --------------------------------------------------------------------------
# Processes: workloads and profiler runs
# --------------------------------------------------------------------------

INFO_LINE_RE = re.compile(r"^([A-Z]+) (\{.*\})$")


class TestSkip(Exception):
    pass


class TestFail(Exception):
    pass


def read_lines(stream, sink):
    """Drain stream into sink as (time, line); None at EOF."""
    for raw in iter(stream.readline, b""):
        sink.put((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))
    sink.put((time.monotonic(), None))


class Workload:
    """A workload process; waits for READY and reaps itself promptly.

    Prompt reaping matters: a zombie still has a /proc entry, so an
    unreaped exited target would look alive to the profiler."""

    def __init__(self, python, argv, ext_dir, artifacts, name="workload"):
        env = dict(os.environ, PPTEST_EXT_DIR=ext_dir or "",
                   PYTHONUNBUFFERED="1")
        self.stderr_path = os.path.join(artifacts, name + ".stderr")
        self.stderr_file = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([python] + argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, env=env)
        self.pid = self.proc.pid
        self.lines = queue.Queue()
        self.info = {}
        threading.Thread(target=read_lines, args=(self.proc.stdout, self.lines),
                         daemon=True).start()
        self.exited = threading.Event()
        threading.Thread(target=self._reap, daemon=True).start()

    def _reap(self):
        self.proc.wait()
        self.exited.set()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TestFail("workload not READY after %ds (%s)"
                               % (timeout, self.stderr_tail()))
            if line is None:
                self.exited.wait(5)
                raise TestFail("workload exited with %s before READY (%s)"
                               % (self.proc.returncode, self.stderr_tail()))
            m = INFO_LINE_RE.match(line)
            if m:       # e.g. "TIDS {...}" -> info["tids"]
                self.info[m.group(1).lower()] = json.loads(m.group(2))
            if line == "READY":
                return self

    def comm(self):
        with open("/proc/%d/comm" % self.pid) as f:
            return f.read().strip()

    def stderr_tail(self):
        self.stderr_file.flush()
        with open(self.stderr_path, "rb") as f:
            tail = f.read()[-400:].decode("utf-8", "replace").strip()
        return "stderr: " + (tail or "<empty>")

    def terminate(self, timeout=15):
        """SIGTERM (workloads write results and exit 0), then SIGKILL."""
        if not self.exited.is_set():
            self.proc.send_signal(signal.SIGTERM)
            if not self.exited.wait(timeout):
                self.proc.kill()
                self.exited.wait(5)
        self.stderr_file.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.terminate()


class ProfRun:
    """One finished profiler run."""

    def __init__(self):
        self.rc = None
        self.stdout = ""
        self.stderr = ""
        self.stderr_lines = []     # (time, line)
        self.started = None        # monotonic time of launch
        self.first_stderr = None   # monotonic time of the first stderr line
        self.exited = None
        self.timed_out = False

    @property
    def elapsed(self):
        return self.exited - self.started

    def crash_problems(self):
        problems = []
        if self.timed_out:
            problems.append("profiler timed out and was killed")
        elif self.rc is not None and self.rc < 0:
            problems.append("profiler died of signal %d" % -self.rc)
        for marker in ("AddressSanitizer", "LeakSanitizer",
                       "UndefinedBehaviorSanitizer", "runtime error:"):
            if marker in self.stderr:
                problems.append("sanitizer report in stderr (%s)" % marker)
                break
        return problems

    def summary(self):
        return "rc=%s, stderr: %s" % (self.rc, self.stderr.strip()[-300:] or "<empty>")

    def incomplete(self, cause):
        """A count from the summary's 'incomplete:' list ('Python walk
        failed', 'native unwind failed', ...); None when it is missing."""
        m = re.search(r"incomplete:.*?(\d+) %s" % re.escape(cause), self.stderr)
        return int(m.group(1)) if m else None


class Profiler:
    """Starts a profiler binary and lets a test act while it runs."""

    def __init__(self, binary, args, artifacts, name="profiler"):
        self.run = ProfRun()
        self.stdout_path = os.path.join(artifacts, name + ".stdout")
        self.stderr_path = os.path.join(artifacts, name + ".stderr")
        with open(os.path.join(artifacts, name + ".cmd"), "w") as f:
            f.write(" ".join([binary] + args) + "\n")
        self.stdout_file = open(self.stdout_path, "wb")
        self.run.started = time.monotonic()
        self.proc = subprocess.Popen([binary] + args, stdin=subprocess.DEVNULL,
                                     stdout=self.stdout_file,
                                     stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        threading.Thread(target=read_lines, args=(self.proc.stderr, self.lines),
                         daemon=True).start()

    def _drain(self, timeout=0.0):
        """Move queued stderr lines into the run; False at EOF."""
        try:
            t, line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return True
        if line is None:
            return False
        if self.run.first_stderr is None:
            self.run.first_stderr = t
        self.run.stderr_lines.append((t, line))
        return True

    def wait_started(self, timeout=20):
        """Wait for the profiler's first stderr line (its start line)."""
        deadline = time.monotonic() + timeout
        while self.run.first_stderr is None and time.monotonic() < deadline:
            if self.proc.poll() is not None and self.lines.empty():
                break
            self._drain(0.05)
        return self.run.first_stderr is not None

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def finish(self, timeout):
        """Wait for exit (kill after timeout) and collect everything."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.run.timed_out = True
            self.proc.kill()
            self.proc.wait()
        self.run.exited = time.monotonic()
        while self._drain(5):
            pass
        self.stdout_file.close()
        self.run.rc = self.proc.returncode
        self.run.stderr = "".join(l + "\n" for _, l in self.run.stderr_lines)
        with open(self.stderr_path, "w") as f:
            f.write(self.run.stderr)
        with open(self.stdout_path, "rb") as f:
            self.run.stdout = f.read().decode("utf-8", "replace")
        return self.run


def profile_args(pid, seconds=DEFAULT_SECONDS, frequency=DEFAULT_FREQUENCY,
                 output=None):
    args = ["--pid", str(pid)]
    if seconds is not None:
        args += ["--seconds", str(seconds)]
    if frequency is not None:
        args += ["--frequency", str(frequency)]
    if output is not None:
        args += ["--output", output]
    return args


def run_profiler(binary, args, artifacts, timeout, name="profiler"):
    return Profiler(binary, args, artifacts, name).finish(timeout)


def read_output(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


# --------------------------------------------------------------------------
# Test context and reporting
# --------------------------------------------------------------------------

class Reporter:
    def __init__(self, name_filter):
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
        self.checks = {"asan": 0, "valgrind": 0}
        self.fuzz = None            # the fuzz smoke's summary line
        self.name_filter = name_filter
        self.interp = None          # InterpStats also counting results
        self.table = []             # [(tag, InterpStats)] for the summary

    def wanted(self, name):
        return not self.name_filter or self.name_filter in name

    def report(self, status, name, reason=None, notes=()):
        self.counts[status] += 1
        if self.interp is not None:
            self.interp.counts[status] += 1
        line = status + " " + name
        if reason:
            line += ": " + reason.replace("\n", " | ")
        print(line, flush=True)
        for note in notes:
            print("  # " + note, flush=True)

    def run(self, name, fn, *args, force=False):
        """Run fn(*args) -> notes; exceptions become FAIL/SKIP lines.

        force: run even if -k filters the name out (a prerequisite)."""
        if not force and not self.wanted(name):
            return None
        try:
            notes = fn(*args) or []
        except TestSkip as e:
            self.report("SKIP", name, str(e))
            return False
        except TestFail as e:
            self.report("FAIL", name, str(e))
            return False
        except Exception as e:  # a harness bug must not hide other results
            tb = traceback.format_exc().strip().split("\n")
            self.report("FAIL", name, "harness error: %r" % e, tb[-6:])
            return False
        self.report("PASS", name, None, notes)
        if "asan" in name:
            self.checks["asan"] += 1
        if name.startswith("valgrind"):
            self.checks["valgrind"] += 1
        for note in notes:
            if note.startswith("fuzz:"):
                self.fuzz = note
        return True

    def summary_table(self):
        """Per interpreter: version, samples, worst ground-truth error, result."""
        if not self.table:
            return
        head = ("interpreter", "version", "samples", "worst attribution error", "result")
        rows = []
        for tag, st in self.table:
            c = st.counts
            if st.missing:
                rows.append((tag, "-", "-", "-", "SKIPPED: %s not found" % st.path))
                continue
            if c["FAIL"]:
                result = "FAIL (%d of %d tests failed)" % (c["FAIL"], sum(c.values()))
            elif c["PASS"]:
                result = "pass (%d tests%s)" % (
                    c["PASS"], ", %d skipped" % c["SKIP"] if c["SKIP"] else "")
            else:
                result = "not run"
            err = "-" if st.gt_error is None else "%.1f pp" % st.gt_error
            rows.append((tag, st.version or "?", str(st.samples) if st.samples else "-",
                         err, result))
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
        fmt = "%%-%ds  %%-%ds  %%%ds  %%%ds  %%s" % tuple(widths)
        print("", flush=True)
        print("Interpreters (worst attribution error: largest |profiled - measured| "
              "function share in ground_truth, both binaries)")
        print(fmt % head)
        print(fmt % (tuple("-" * w for w in widths) + ("-" * 6,)))
        for r in rows:
            print(fmt % r)
        print("", flush=True)

    def final(self):
        c = self.counts
        print("checks: %d passed under AddressSanitizer + UBSan (unit and end to end), %d valgrind "
              "memcheck runs clean, %s" % (self.checks["asan"], self.checks["valgrind"],
                                          self.fuzz or "fuzz: not run"), flush=True)
        print("%d passed, %d failed, %d skipped" % (c["PASS"], c["FAIL"], c["SKIP"]),
              flush=True)
        return 1 if c["FAIL"] else 0


def fail_if(problems, artifacts=None):
    if problems:
        where = " (artifacts: %s)" % os.path.relpath(artifacts) if artifacts else ""
        raise TestFail("; ".join(problems[:6]) + where)


class InterpStats:
    """What the closing table shows for one interpreter."""

    def __init__(self, path=None):
        self.path = path
        self.version = None         # "3.11.7", from the interpreter itself
        self.missing = False
        self.samples = 0            # over all its e2e profiles
        self.gt_error = None        # worst |profiled - measured| share, pp
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

    def record_gt_error(self, pp):
        self.gt_error = pp if self.gt_error is None else max(self.gt_error, pp)


class Env:
    """What one e2e test needs: interpreter, ext dir, binary, artifact dir."""

    def __init__(self, workdir, seconds, interp_tag=None, python=None,
                 ext_dir=None, binary=None, bin_tag=None, version=None, stats=None):
        self.workdir = workdir
        self.seconds = seconds
        self.interp_tag = interp_tag
        self.python = python
        self.ext_dir = ext_dir
        self.binary = binary
        self.bin_tag = bin_tag
        self.version = version      # (major, minor, micro) of python
        self.stats = stats if stats is not None else InterpStats()

    def add_samples(self, stacks):
        self.stats.samples += total(stacks)

    def artifacts(self, test):
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", "%s-%s-%s"
                      % (test, self.interp_tag or "any", self.bin_tag))
        path = os.path.join(self.workdir, safe)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def workload(self, script, args, artifacts, name="workload"):
        path = os.path.join(WORKLOADS, script)
        argv = [path] + args + (["--ext-dir", self.ext_dir] if self.ext_dir else [])
        return Workload(self.python, argv, self.ext_dir, artifacts, name)


# --------------------------------------------------------------------------
# End-to-end tests (each returns a list of notes or raises TestFail/Skip)
# --------------------------------------------------------------------------

def thread_cpu_seconds(pid, tid):
    """utime + stime of one thread, in seconds (None once it is gone)."""
    try:
        with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def profile_workload(env, wl, art, seconds, frequency=DEFAULT_FREQUENCY):
    """Profile a running workload to a file; return (run, stacks). The run
    also gets main_cpu_s: the CPU time the main thread had while sampled,
    the number of samples to expect divided by the frequency (on a loaded
    machine the workload gets less than the wall time)."""
    out = os.path.join(art, "profile.folded")
    prof = Profiler(env.binary, profile_args(wl.pid, seconds, frequency, out), art)
    prof.wait_started(timeout=60)
    cpu0 = thread_cpu_seconds(wl.pid, wl.pid)
    run = prof.finish(seconds + 90)
    cpu1 = thread_cpu_seconds(wl.pid, wl.pid)
    run.main_cpu_s = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    fail_if(problems, art)
    if not os.path.exists(out):
        fail_if(["--output file not written"], art)
    problems, stacks = check_profile_text(read_output(out), wl.pid)
    env.add_samples(stacks)
    fail_if(problems, art)
    return run, stacks


def test_ground_truth(env):
    art = env.artifacts("ground_truth")
    script = os.path.join(WORKLOADS, "ground_truth.py")
    truth_path = os.path.join(art, "truth.json")
    with env.workload("ground_truth.py", ["--truth", truth_path], art) as wl:
        wl.wait_ready()
        comm = wl.comm()
        run, stacks = profile_workload(env, wl, art, env.seconds)
        if wl.terminate() != 0:
            fail_if(["workload exit code %s (%s)"
                     % (wl.proc.returncode, wl.stderr_tail())], art)
    with open(truth_path) as f:
        truth = json.load(f)
    shares = ground_truth_shares(of_thread(stacks, wl.pid))
    env.stats.record_gt_error(max(100 * abs(shares[k] - truth["shares"][k])
                                  for k in GT_NAMES))
    problems = check_structure(stacks, wl.pid, comm)
    problems += check_ground_truth(stacks, truth, wl.pid, script, DEFAULT_FREQUENCY,
                                   run.main_cpu_s or env.seconds)
    fail_if(problems, art)
    return ["shares profiled/measured: " + ", ".join(
        "%s %.1f/%.1f%%" % (k, 100 * shares[k], 100 * truth["shares"][k])
        for k in GT_NAMES) + "; %d samples" % total(stacks)]


def test_threads(env):
    art = env.artifacts("threads")
    with env.workload("threads.py", [], art) as wl:
        wl.wait_ready()
        run, stacks = profile_workload(env, wl, art, env.seconds)
    tids = wl.info.get("tids")
    if not tids:
        fail_if(["workload printed no TIDS line"], art)
    fail_if(check_threads(stacks, tids), art)
    return ["samples per thread: " + ", ".join(
        "%s %d" % (r, total(of_thread(stacks, t))) for r, t in sorted(tids.items()))]


def proc_states(pid):
    """The state letter of every thread of pid."""
    states = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                states[int(tid)] = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            pass
    return states


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


DUMPS = 5


def test_dump(env):
    """dump, DUMPS times: each thread's own stack innermost first, at most
    one GIL holder; over the dumps the spinner holds the GIL and runs and
    the sleeper waits; the target is left running, never stopped."""
    art = env.artifacts("dump")
    problems, seen = [], {"gil": 0, "spin_running": 0, "sleeper_waiting": 0}
    with env.workload("threads.py", [], art) as wl:
        wl.wait_ready()
        tids = wl.info.get("tids")
        if not tids:
            fail_if(["workload printed no TIDS line"], art)
        for i in range(DUMPS):
            run = run_profiler(env.binary, ["dump", "--pid", str(wl.pid)], art, timeout=60,
                               name="dump%d" % i)
            problems += run.crash_problems()
            if run.rc != 0:
                problems.append("dump exit code %s (%s)" % (run.rc, run.summary()))
                break
            try:
                dump = dump_check.parse_dump(run.stdout)
            except ValueError as e:
                problems.append("dump %d: %s" % (i, e))
                break
            problems += ["dump %d: %s" % (i, p) for p in
                         dump_check.check_dump(dump, tids, THREAD_BODIES)]
            th = dump["threads"]
            spin, sleeper = th.get(tids["py_spinner"]), th.get(tids["sleeper"])
            seen["gil"] += bool(spin and spin.holds_gil)
            seen["spin_running"] += bool(spin and spin.state == "running")
            seen["sleeper_waiting"] += bool(sleeper and sleeper.state.startswith("waiting"))
            stopped = {t: s for t, s in proc_states(wl.pid).items() if s in "tT"}
            if stopped:
                problems.append("after dump %d threads are left stopped: %s" % (i, stopped))
            if problems:
                break
            time.sleep(0.1)
        before = cpu_ticks(wl.pid)
        time.sleep(0.5)
        if cpu_ticks(wl.pid) <= before:
            problems.append("the target used no CPU after the dumps: not resumed")
    for what, n in sorted(seen.items()):
        if not problems and n == 0:
            problems.append("in %d dumps never seen: %s" % (DUMPS, what))
    fail_if(problems, art)
    return ["%d dumps: spinner held the GIL in %d, ran in %d; sleeper waited in %d"
            % (DUMPS, seen["gil"], seen["spin_running"], seen["sleeper_waiting"])]


# Every format from one run (one file each, the same samples), checked
# against the folded file of that run.
FORMAT_FILES = ["profile.folded", "profile.speedscope.json", "profile.pb.gz", "profile.svg"]


def format_problems(art, name, stacks, frequency):
    path = os.path.join(art, name)
    if not os.path.exists(path):
        return ["%s not written" % name]
    if name.endswith(".speedscope.json"):
        return speedscope_check.check_speedscope(path, stacks, frequency)
    if name.endswith(".pb.gz"):
        return pprof_check.check_pprof(path, stacks)
    if name.endswith(".svg"):
        problems = svg_check.check_svg(path, stacks)
        # Rendered in headless Chromium: not blank, and the script zooms,
        # resets and searches without errors.
        problems += svg_check.render_check(path, os.path.join(art, "profile.png"))
        problems += svg_check.interaction_check(path)
        return problems
    return ["no checker for %s" % name]


def formats_run(env, art, wl, extra, frequency=DEFAULT_FREQUENCY, seconds=3, runs=None):
    args = profile_args(wl.pid, seconds, frequency) + extra
    for name in FORMAT_FILES:
        args += ["--output", os.path.join(art, name)]
    run = run_profiler(env.binary, args, art, timeout=seconds + 90)
    if runs is not None:
        runs.append(run)
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    fail_if(problems, art)
    text = read_output(os.path.join(art, "profile.folded"))
    problems, stacks = check_profile_text(text, wl.pid, threads="--no-threads" not in extra)
    fail_if(problems, art)
    pairs = [(s.frames, s.count) for s in stacks]
    for name in FORMAT_FILES[1:]:
        problems += ["%s: %s" % (name, p) for p in format_problems(art, name, pairs, frequency)]
    return stacks, problems


def test_formats(env):
    """One run writes every format; each agrees with the folded file."""
    art = env.artifacts("formats")
    with env.workload("threads.py", [], art) as wl:
        wl.wait_ready()
        stacks, problems = formats_run(env, art, wl, [])
    env.add_samples(stacks)
    fail_if(problems, art)
    return ["%s agree on %d samples" % (", ".join(FORMAT_FILES), total(stacks))]


def is_native(frame):
    return not (is_py(frame) or frame.endswith("_[k]") or frame.startswith("[")
                or THREAD_RE.match(frame) or PROCESS_RE.match(frame))


def test_views(env):
    """--no-threads --no-lines --no-native --no-kernel, in every format."""
    art = env.artifacts("views")
    with env.workload("threads.py", [], art) as wl:
        wl.wait_ready()
        run_args = ["--no-threads", "--no-lines", "--no-native", "--no-kernel"]
        stacks, problems, runs = [], [], []
        try:
            stacks, problems = formats_run(env, art, wl, run_args, runs=runs)
        except TestFail as e:
            problems = [str(e)]
    # A sample whose Python walk failed before its first frame has no
    # Python frame left in this view, only the walk's marker: allowed, as
    # many as the summary counts failed walks, never more.
    walk_failed = runs[0].incomplete("Python walk failed") if runs else None
    markers_only = [s for s in stacks if all(f.startswith("[") for f in s.frames[1:])]
    if stacks and walk_failed is None:
        problems.append("no 'Python walk failed' count in the summary")
    elif total(markers_only) > (walk_failed or 0):
        problems.append("%d samples without a Python frame, %d failed walks in the summary:%s"
                        % (total(markers_only), walk_failed, example(markers_only)))
    for s in stacks:
        if any(THREAD_RE.match(f) for f in s.frames):
            problems.append("a thread frame with --no-threads:" + example([s]))
        if any(py_frame(f) for f in s.frames) or (
                s not in markers_only and
                not any(re.match(r"^.+ \([^:]+\)$", f) for f in s.frames[1:])):
            problems.append("a Python frame with a line, or none, with --no-lines:" + example([s]))
        if any(f.endswith("_[k]") for f in s.frames):
            problems.append("a kernel frame with --no-kernel:" + example([s]))
        if any(is_native(f) and not re.match(r"^.+ \([^:]+\)$", f) for f in s.frames[1:]):
            problems.append("a native frame with --no-native:" + example([s]))
        if len(problems) > 4:
            break
    if not any(s.frames[-1].startswith("py_spinner_step (") for s in stacks):
        problems.append("no py_spinner_step leaf in the Python view")
    fail_if(problems, art)
    return ["%d stacks, %d samples, Python frames only, by function; %d without a Python frame "
            "(%s failed walks)" % (len(stacks), total(stacks), total(markers_only), walk_failed)]


def tmux(*args, check=True):
    p = subprocess.run(["tmux"] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if check and p.returncode != 0:
        raise TestFail("tmux %s: %s" % (" ".join(args), p.stdout.decode("utf-8", "replace")))
    return p.stdout.decode("utf-8", "replace")


def test_top(env):
    """top in a tmux pane: title, thread count, GIL holder, the busiest
    functions sorted by own samples; 'c' switches to since-start; 'q' quits."""
    if not shutil.which("tmux"):
        raise TestFail("tmux is not installed (the Makefile installs it)")
    art = env.artifacts("top")
    session = "pptop%d" % os.getpid()
    rc_path = os.path.join(art, "top.rc")
    problems, gil_seen = [], 0
    with env.workload("threads.py", [], art) as wl:
        wl.wait_ready()
        tids = wl.info.get("tids") or {}
        cmd = "%s top --pid %d 2>%s; echo $? > %s" % (
            env.binary, wl.pid, os.path.join(art, "top.stderr"), rc_path)
        tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "45", cmd)
        try:
            # Attaching (symbols, BPF load) takes a moment: wait for a
            # screen whose window has samples, then take 4 a refresh apart.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if top_check.parse_top(tmux("capture-pane", "-p", "-t", session)).samples:
                    break
                time.sleep(0.2)
            for i in range(4):
                time.sleep(1.1)
                text = tmux("capture-pane", "-p", "-t", session)
                with open(os.path.join(art, "screen%d.txt" % i), "w") as f:
                    f.write(text)
                screen = top_check.parse_top(text)
                gil_seen += bool(screen.gil and "pp-spinner" in screen.gil)
                found = top_check.check_top(
                    screen, wl.pid, len(tids) or 4, ["pptest_spin_nogil"],
                    ["pp-spinner", "pp-nogil", "pp-sleeper", "python", "released",
                     "a thread not sampled yet"], busy={"py_spinner_step": 0.1})
                if screen.mode != "last interval":
                    found.append("mode %r, expected 'last interval'" % screen.mode)
                problems += ["screen %d: %s" % (i, p) for p in found]
            tmux("send-keys", "-t", session, "c")
            time.sleep(0.5)
            text = tmux("capture-pane", "-p", "-t", session)
            with open(os.path.join(art, "screen-c.txt"), "w") as f:
                f.write(text)
            if top_check.parse_top(text).mode != "since start":
                problems.append("'c' did not switch to since start")
            tmux("send-keys", "-t", session, "q")
            deadline = time.monotonic() + 5
            while not os.path.exists(rc_path) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not os.path.exists(rc_path):
                problems.append("'q' did not end top within 5 s")
            else:
                time.sleep(0.1)
                with open(rc_path) as f:
                    rc = f.read().strip()
                if rc != "0":
                    problems.append("top exit code %s" % rc)
        finally:
            tmux("kill-session", "-t", session, check=False)
        stopped = {t: st for t, st in proc_states(wl.pid).items() if st in "tT"}
        if stopped:
            problems.append("threads left stopped: %s" % stopped)
    with open(os.path.join(art, "top.stderr")) as f:
        err = f.read()
    for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
        if marker in err:
            problems.append("sanitizer report: %s" % err[-300:])
    if not problems and not gil_seen:
        problems.append("the GIL holder was never shown as pp-spinner")
    fail_if(problems, art)
    return ["4 screens checked; spinner shown holding the GIL in %d" % gil_seen]


def test_shapes(env):
    """Generators, a generator pipeline, an asyncio coroutine, lambdas, a
    generator expression, a list comprehension, a class body, a Python ->
    C -> Python callback and a method: each leaf under exactly its chain."""
    art = env.artifacts("shapes")
    script = os.path.join(WORKLOADS, "shapes.py")
    with env.workload("shapes.py", [], art) as wl:
        wl.wait_ready()
        run, stacks = profile_workload(env, wl, art, env.seconds)
    info = wl.info.get("shapes")
    if not info:
        fail_if(["workload printed no SHAPES line"], art)
    problems, counts, marked = check_shapes(stacks, wl.pid, script, env.version, info["run"])
    fail_if(problems, art)
    notes = ["leaf samples: " + ", ".join("%s %d" % (c[0], counts.get(c[0], 0))
                                          for c in shape_chains(env.version)
                                          if c[0] in counts)
             + "; %d marked incomplete" % marked]
    for shape, why in sorted(info.get("skipped", {}).items()):
        notes.append("shape %s not run: %s" % (shape, why))
    return notes


def test_recursion(env, depth, markers, seconds, burn_gil):
    art = env.artifacts("recursion_%d" % depth)
    args = [str(depth)] + (["--burn-gil"] if burn_gil else [])
    with env.workload("recursion.py", args, art) as wl:
        wl.wait_ready()
        run, stacks = profile_workload(env, wl, art, seconds)
    problems, full, marked = check_recursion(stacks, depth, markers)
    fail_if(problems, art)
    return ["%d samples with all %d frames, %d marked truncated"
            % (full, depth, marked)]


def test_recursion_300(env):
    return test_recursion(env, 300, (MARK_TRUNCATED, MARK_NATIVE_TRUNCATED),
                          env.seconds, burn_gil=True)


def test_recursion_2000(env):
    # A 2000-frame Python stack exceeds any sane BPF walk limit: the profile
    # must say so with [truncated] rather than cut it silently.
    return test_recursion(env, 2000, (MARK_TRUNCATED,), 3, burn_gil=False)


def test_output_file(env):
    art = env.artifacts("output_file")
    with env.workload("ground_truth.py", [], art) as wl:
        wl.wait_ready()
        run, stacks = profile_workload(env, wl, art, 3)
    return ["%d stacks, %d samples" % (len(stacks), total(stacks))]


def test_output_stdout(env):
    art = env.artifacts("output_stdout")
    with env.workload("ground_truth.py", [], art) as wl:
        wl.wait_ready()
        run = run_profiler(env.binary, profile_args(wl.pid, 3), art, timeout=90)
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    fail_if(problems, art)
    problems, stacks = check_profile_text(run.stdout, wl.pid)
    env.add_samples(stacks)
    fail_if(problems, art)
    return ["%d stacks, %d samples" % (len(stacks), total(stacks))]


def test_sigint(env, sig=signal.SIGINT, name="sigint"):
    """No --seconds: SIGINT (or SIGTERM, SIGHUP) after 2 s must still produce a full profile."""
    art = env.artifacts(name)
    out = os.path.join(art, "profile.folded")
    with env.workload("ground_truth.py", [], art) as wl:
        wl.wait_ready()
        prof = Profiler(env.binary, profile_args(wl.pid, None, DEFAULT_FREQUENCY, out),
                        art)
        started = prof.wait_started()
        time.sleep(2)
        prof.signal(sig)
        run = prof.finish(timeout=60)
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s after %s (%s)" % (run.rc, name, run.summary()))
    fail_if(problems, art)
    if not os.path.exists(out):
        fail_if(["no output file after %s" % name], art)
    text = read_output(out)
    problems, stacks = check_profile_text(text, wl.pid, min_samples=100)
    env.add_samples(stacks)
    if text and not text.endswith("\n"):
        problems.append("output does not end with a newline (cut short?)")
    fail_if(problems, art)
    notes = ["%d samples in ~2 s" % total(stacks)]
    if not started:
        notes.append("no stderr start line within 20 s; SIGINT sent anyway")
    return notes


def test_sigterm(env):
    return test_sigint(env, signal.SIGTERM, "sigterm")


def test_sighup(env):
    """A closed terminal ends the run like Ctrl-C, with the profile written."""
    return test_sigint(with_python(env), signal.SIGHUP, "sighup")


def test_native_truncated(env):
    """A native stack deeper than the copy (C-level recursion, 60 levels of
    Python -> C -> Python, with --stack-size 16): the outer Python frames
    still show, under the marker at the root side; the inner part is
    merged as usual. The same workload with the default copy is complete."""
    art = env.artifacts("native_truncated")
    results = {}
    for name, extra in (("short", ["--stack-size", "16"]), ("default", [])):
        out = os.path.join(art, "profile-%s.folded" % name)
        with env.workload("recursion.py", ["60", "--via-c"], art, name="workload-" + name) as wl:
            wl.wait_ready()
            # ~500 native frames a sample: 199 Hz keeps the ASan build's unwinding in step
            run = run_profiler(env.binary, profile_args(wl.pid, 2, 199, out) + extra,
                               art, timeout=90, name="profiler-" + name)
            wl.terminate()
        problems = run.crash_problems()
        if run.rc != 0:
            problems.append("exit code %s (%s)" % (run.rc, run.summary()))
        fail_if(problems, art)
        # A floor, not a rate: a loaded machine gives the workload less CPU.
        problems, stacks = check_profile_text(read_output(out), wl.pid, min_samples=40)
        env.add_samples(stacks)
        fail_if(problems, art)
        results[name] = of_thread(stacks, wl.pid)
    problems = []
    short, full = results["short"], results["default"]
    bottom = [s for s in short if has_py(s, "recursion_bottom")]
    marked = [s for s in bottom if MARK_NATIVE_TRUNCATED in s.frames]
    misplaced = [s for s in marked if s.frames.index(MARK_NATIVE_TRUNCATED) != 2]
    whole = [s for s in marked if count_py(s, "recurse_via_c") == 60 and has_py(s, "<module>")]
    if total(marked) < 0.95 * total(bottom):
        problems.append("only %d of %d samples carry %s with a 16 KB stack copy"
                        % (total(marked), total(bottom), MARK_NATIVE_TRUNCATED))
    if misplaced:
        problems.append("marker not at the root side (right after the thread frame): "
                        + example(misplaced))
    if total(whole) < 0.95 * total(marked):
        problems.append("outer Python frames lost under the marker: %d of %d marked samples "
                        "show <module> and all 60 levels" % (total(whole), total(marked)))
    full_bottom = [s for s in full if has_py(s, "recursion_bottom")]
    full_marked = [s for s in full_bottom if MARK_NATIVE_TRUNCATED in s.frames]
    if total(full_marked) > 0.01 * total(full_bottom):
        problems.append("with the default copy %d of %d samples are still truncated"
                        % (total(full_marked), total(full_bottom)))
    problems += check_nesting(full, ("py", "recurse_via_c"), ("native", "pptest_call_back"))
    fail_if(problems, art)
    return ["16 KB copy: %d of %d samples marked, %d of them whole; default copy: %d of %d complete"
            % (total(marked), total(bottom), total(whole),
               total(full_bottom) - total(full_marked), total(full_bottom))]


FLEET_MEMBERS = 20
FOLDED_NAME_RE = re.compile(r"^(.+)_(.+)_(\d+)_(\d{8}T\d{6}Z)\.folded$")
TAG_RE = re.compile(r"^work_(m\d\d) ")


def fleet_members(art, on_half=None):
    """Starts FLEET_MEMBERS short-lived Python processes over ~10 s: the
    interpreters of INTERPRETERS in turn, every third in its own pid and
    mount namespace; calls on_half() when half have started. Returns
    {tag: (interpreter tag, in_ns)} once all exited."""
    pythons = [(t, p) for t, p in INTERPRETERS if os.access(p, os.X_OK)]
    script = os.path.join(WORKLOADS, "fleet_member.py")
    members, procs = {}, []
    for i in range(FLEET_MEMBERS):
        tag = "m%02d" % i
        itag, python = pythons[i % len(pythons)]
        in_ns = i % 3 == 0
        argv = ([
            "unshare", "--pid", "--fork", "--mount-proc"] if in_ns else []) + [python, script, tag, "3"]
        err = open(os.path.join(art, "member-%s.stderr" % tag), "wb")
        procs.append((tag, subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=err), err))
        members[tag] = (itag, in_ns)
        if on_half and i == FLEET_MEMBERS // 2:
            on_half()
        time.sleep(0.5)
    for tag, p, err in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        err.close()
        if p.returncode != 0:
            raise TestFail("fleet member %s exited with %s" % (tag, p.returncode))
    return members


def check_pushes(jsonl, srv, members, recovered_at):
    """Every push valid; every member's work pushed; profiles of the time
    the server was down arrived after it recovered."""
    problems = []
    if srv.counts["invalid"]:
        problems.append("%d pushes broke the ingest API (see %s)" % (srv.counts["invalid"], srv.invalid))
    recs = pyroscope_receiver.read_jsonl(jsonl) if os.path.exists(jsonl) else []
    if not recs:
        return problems + ["no push arrived"]
    pushed = set()
    for r in recs:
        pushed.update(re.findall(r"work_(m\d\d) ", r["body"]))
        if r["labels"].get("host") != "testhost" or "pid" not in r["labels"]:
            problems.append("push labels %s lack host=testhost or pid" % r["labels"])
            break
    missing = sorted(set(members) - pushed)
    if missing:
        problems.append("no push holds the work of %s" % ", ".join(missing))
    late = [r for r in recs if r["until"] < recovered_at and r["time"] >= recovered_at]
    if not srv.counts["down"]:
        problems.append("the receiver was never asked while down")
    if not late:
        problems.append("no profile of the time the server was down arrived after it recovered")
    return problems, len(recs), len(late)


def check_fleet_dir(outdir, members):
    """Every member has a profile with its own work function and no other
    member's; each file's root is the process its name says."""
    problems, found, files = [], {}, 0
    for name in sorted(os.listdir(outdir)):
        m = FOLDED_NAME_RE.match(name)
        if not m:
            continue
        files += 1
        if not os.path.exists(os.path.join(outdir, name[:-len(".folded")] + ".pb.gz")):
            problems.append("%s has no .pb.gz beside it" % name)
        try:
            stacks = parse_folded(read_output(os.path.join(outdir, name)))
        except ParseError as e:
            problems.append("%s: %s" % (name, e))
            continue
        pid = int(m.group(3))
        roots = set(s.frames[0] for s in stacks)
        if any(not PROCESS_RE.match(r) or int(PROCESS_RE.match(r).group(2)) != pid for r in roots):
            problems.append("%s holds stacks of other processes: %s" % (name, sorted(roots)[:3]))
        tags = set()
        for s in stacks:
            for f in s.frames:
                t = TAG_RE.match(f)
                if t:
                    tags.add(t.group(1))
        if len(tags) > 1:
            problems.append("%s shows several members' code: %s" % (name, sorted(tags)))
        for t in tags:
            found.setdefault(t, []).append(name)
    missing = sorted(set(members) - set(found))
    if missing:
        problems.append("no profile shows the work of %d members: %s" % (
            len(missing), ", ".join("%s (%s%s)" % (t, members[t][0], ", own pid ns" if members[t][1] else "")
                                    for t in missing)))
    return problems, files


def test_fleet(env):
    """--all with --output-dir: 20 processes of every interpreter come and
    go, a third of them in their own pid namespace; each gets a profile of
    its own stacks, in folded and pprof form, and every one that exited is
    let go (its caches freed)."""
    art = env.artifacts("fleet")
    outdir = os.path.join(art, "out")
    jsonl = os.path.join(art, "pushes.jsonl")
    down = jsonl + ".down"
    open(down, "w").close()     # the server fails until half the members ran
    srv, _ = pyroscope_receiver.start(jsonl, quiet=True)
    recovered = []

    def recover():
        os.unlink(down)
        recovered.append(time.time())

    prof = Profiler(env.binary, ["--all", "--output-dir", outdir, "--interval", "2", "-F", "49",
                                 "--host", "testhost", "--push",
                                 "http://127.0.0.1:%d" % srv.server_address[1],
                                 "--exclude", r"fleet_member\.py x[0-9]+ ", "--exclude", "^nomatch$"], art)
    outsiders = []
    try:
        if not prof.wait_started(60):
            prof.signal(signal.SIGTERM)
            fail_if(["no start line: " + prof.finish(30).summary()], art)
        try:
            # Two processes --exclude keeps out, one of them in its own pid
            # namespace, running the whole time next to the members.
            member = os.path.join(WORKLOADS, "fleet_member.py")
            # At nice 19 they take no CPU from the members (each lives 3 s).
            for tag, ns in (("x01", []), ("x02", ["unshare", "--pid", "--fork", "--mount-proc"])):
                outsiders.append(subprocess.Popen(ns + [sys.executable, member, tag, "14"],
                                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                  preexec_fn=lambda: os.nice(19)))
            # Always on, host-wide: no syscall tracepoint that would slow
            # every syscall of the host (library unloads are polled).
            tracepoints = attached_tracepoints(prof.proc.pid)
            rings = ringbuf_bytes(prof.proc.pid)
            members = fleet_members(art, recover)
            time.sleep(3)   # their last interval, and the grace before they are let go
        finally:
            prof.signal(signal.SIGINT)
            run = prof.finish(60)
            for p in outsiders:
                p.kill()
                p.wait()
    finally:
        srv.shutdown()
        srv.server_close()
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    if tracepoints:
        problems.append("--all attached syscall tracepoints: %s" % sorted(tracepoints))
    # Sized for 19 Hz: 1 MB per CPU, 4 to 32 MB (--pid: 8 MB, fault.dlclose).
    want = min(32, max(4, os.cpu_count() or 1)) << 20
    if rings != [want]:
        problems.append("--all's ring buffer: %s bytes, expected [%d]" % (rings, want))
    m = re.search(r"(\d+) processes followed \((\d+) exited\)", run.stderr)
    if not m:
        problems.append("no fleet summary line: " + run.summary())
    elif int(m.group(1)) < FLEET_MEMBERS or int(m.group(2)) < FLEET_MEMBERS:
        problems.append("followed %s processes, %s exited; expected >= %d each"
                        % (m.group(1), m.group(2), FLEET_MEMBERS))
    x = re.search(r"(\d+) excluded", run.stderr)
    if not x or int(x.group(1)) != len(outsiders):
        problems.append("the summary does not count the %d processes --exclude kept out: %s"
                        % (len(outsiders), x.group(0) if x else run.summary()))
    found, files = check_fleet_dir(outdir, members) if os.path.isdir(outdir) else (["no output dir"], 0)
    problems += found
    leaked = sorted(n for n in (os.listdir(outdir) if os.path.isdir(outdir) else [])
                    if n.endswith(".folded") and
                    re.search(r"work_x0[12]", read_output(os.path.join(outdir, n))))
    if leaked:
        problems.append("excluded processes were profiled: %s" % ", ".join(leaked[:4]))
    pushed, npush, nlate = check_pushes(jsonl, srv, members, recovered[0] if recovered else 0)
    problems += pushed
    fail_if(problems, art)
    return ["%d members (%d in their own pid namespace) over %d interpreters: %d profiles; %s; "
            "%d pushes, %d of them spooled while the server was down; %s, none profiled"
            % (len(members), sum(1 for v in members.values() if v[1]),
               len(set(v[0] for v in members.values())), files, m.group(0), npush, nlate, x.group(0))]


def test_fleet_retain(env):
    """--retain: the oldest of our files go first until the rest fit; files
    not named as ours are never touched; the newest profiles are kept."""
    env = with_python(env)
    art = env.artifacts("fleet_retain")
    outdir = os.path.join(art, "out")
    os.makedirs(outdir)
    old = ["h_old_1_20200101T000000Z.folded", "h_old_1_20200101T000100Z.pb.gz",
           "h_old_1_20200101T000200Z.folded"]
    for i, name in enumerate(old):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(b"x" * (400 << 10))
    with open(os.path.join(outdir, "notes.txt"), "wb") as f:
        f.write(b"y" * (2 << 20))
    with env.workload("threads.py", [], art) as wl:
        wl.wait_ready()
        run = run_profiler(env.binary, ["--pid", str(wl.pid), "--output-dir", outdir, "--interval", "1",
                                        "--retain", "1", "-d", "3"], art, timeout=60)
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    left = sorted(os.listdir(outdir))
    ours = [n for n in left if FOLDED_NAME_RE.match(n) or n.endswith(".pb.gz")]
    size = sum(os.path.getsize(os.path.join(outdir, n)) for n in ours)
    if "notes.txt" not in left:
        problems.append("a file not ours was removed")
    if size > 1 << 20:
        problems.append("our files use %d bytes, over --retain 1 MB: %s" % (size, ours))
    kept_old = [n for n in old if n in left]
    if old[0] in left or kept_old != old[len(old) - len(kept_old):]:
        problems.append("not the oldest first: %s kept" % kept_old)
    if not any(("_%d_" % wl.pid) in n for n in ours):
        problems.append("no new profile kept: %s" % left)
    fail_if(problems, art)
    return ["left: %s" % ", ".join(left)]


def test_subprocesses(env):
    """--pid ROOT --subprocesses: a child started with subprocess and a
    forked one are followed from their start; an unrelated Python process
    is not; the run ends when the whole tree has exited."""
    python = "/usr/bin/python3.11"
    if not os.access(python, os.X_OK):
        raise TestSkip("%s not found" % python)
    art = env.artifacts("subprocesses")
    out = os.path.join(art, "profile.folded")
    bystander = subprocess.Popen([python, os.path.join(WORKLOADS, "fleet_member.py"), "x99", "20"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        wl = Workload(python, [os.path.join(WORKLOADS, "spawner.py")], None, art)
        prof = Profiler(env.binary, ["--pid", str(wl.pid), "--subprocesses", "-F", "99", "-o", out], art)
        wl.wait_ready()
        run = prof.finish(60)
        wl.terminate()
    finally:
        bystander.kill()
        bystander.wait()
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    fail_if(problems, art)
    children = wl.info.get("children") or {}
    stacks = parse_folded(read_output(out))
    by_pid = {}
    for s in stacks:
        by_pid.setdefault(int(PROCESS_RE.match(s.frames[0]).group(2)), []).append(s)
    want = {wl.pid: "work_parent", children.get("c01"): "work_c01", children.get("f02"): "work_f02"}
    for pid, fn in sorted(want.items(), key=lambda x: str(x)):
        mine = by_pid.get(pid, [])
        if not any(has_py(s, fn) for s in mine):
            problems.append("no %s in the samples of process %s" % (fn, pid))
    if bystander.pid in by_pid:
        problems.append("the unrelated process %d was sampled" % bystander.pid)
    if "exited after" not in run.stderr:
        problems.append("the run did not end with the process tree: " + run.summary())
    fail_if(problems, art)
    return ["%d processes in the profile: %s" % (len(by_pid), ", ".join(
        "%d: %d samples" % (p, total(v)) for p, v in sorted(by_pid.items())))]


def test_container(env):
    """A process in a container of its own making: a private mount
    namespace whose bind mount of /usr we cannot see, a chroot, and its
    interpreter at a path (/opt/py/bin) that does not exist outside. Its
    files are found (/proc/PID/root, /proc/PID/map_files) and its stacks
    are whole: Python frames, interpreter and libc frames to _start."""
    python = "/usr/bin/python3.11"
    if not os.access(python, os.X_OK):
        raise TestSkip("%s not found" % python)
    art = env.artifacts("container")
    root = os.path.join(art, "root")
    for d in ("usr", "proc", "opt/py/bin", "w", "tmp", "dev"):
        os.makedirs(os.path.join(root, d))
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin")):
        os.symlink(target, os.path.join(root, link))
    shutil.copy2(python, os.path.join(root, "opt/py/bin/python3.11"))
    shutil.copy2(os.path.join(WORKLOADS, "fleet_member.py"), os.path.join(root, "w"))
    inner = ("mount --bind -o ro /usr {r}/usr && mount -t proc proc {r}/proc && "
             "exec chroot {r} /opt/py/bin/python3.11 /w/fleet_member.py k01 8").format(r=root)
    box = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "sh", "-c", inner],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if box.stdout.readline().strip() != b"READY":
            raise TestFail("the contained process did not start: %s" % box.stdout.read()[-300:])
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()
                and os.path.exists("/proc/%s/cmdline" % p)
                and open("/proc/%s/cmdline" % p, "rb").read().startswith(b"/opt/py/bin/python3.11\0")]
        if len(pids) != 1:
            raise TestFail("cannot find the contained python: %s" % pids)
        out = os.path.join(art, "profile.folded")
        run = run_profiler(env.binary, profile_args(pids[0], 3, 199, out), art, timeout=90)
    finally:
        box.kill()
        box.wait()
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    fail_if(problems, art)
    stacks = parse_folded(read_output(out))
    n = total(stacks)
    whole = [s for s in stacks if "_start" in s.frames and has_py(s, "<module>")
             and MARK_NATIVE_TRUNCATED not in s.frames]
    work = [s for s in stacks if has_py(s, "work_k01")]
    if n == 0 or total(whole) < 0.95 * n:
        problems.append("only %d of %d samples whole (_start ... <module>, no marker)%s"
                        % (total(whole), n, example([s for s in stacks if s not in whole])))
    if total(work) < 0.5 * n:
        problems.append("only %d of %d samples in work_k01" % (total(work), n))
    fail_if(problems, art)
    return ["%d of %d samples whole, %d in the contained work function" % (total(whole), n, total(work))]


FAULT_PYTHON = "/usr/bin/python3.11"


def fault_python():
    if not os.access(FAULT_PYTHON, os.X_OK):
        raise TestSkip("%s not found" % FAULT_PYTHON)
    return FAULT_PYTHON


def with_python(env):
    """env with Debian's python3.11 and the test extension built for it,
    for the tests that need one interpreter, not each."""
    python = fault_python()
    return Env(env.workdir, env.seconds, "debian-3.11", python, build_ext("debian-3.11", python),
               env.binary, env.bin_tag, python_version(python))


def drain_info(wl):
    """Info lines a workload printed after READY."""
    while True:
        try:
            _, line = wl.lines.get(timeout=0.5)
        except queue.Empty:
            return
        if line is None:
            return
        m = INFO_LINE_RE.match(line)
        if m:
            wl.info[m.group(1).lower()] = json.loads(m.group(2))


def test_fault_kill(env):
    """The target is SIGKILLed mid-run: what was sampled is written, exit 0."""
    env = with_python(env)
    art = env.artifacts("fault_kill")
    wl = env.workload("threads.py", [], art)
    wl.wait_ready()
    out = os.path.join(art, "profile.folded")
    prof = Profiler(env.binary, profile_args(wl.pid, 20, DEFAULT_FREQUENCY, out), art)
    prof.wait_started(60)
    time.sleep(1.5)
    wl.proc.kill()
    run = prof.finish(60)
    wl.terminate()
    problems = run.crash_problems()
    if run.rc != 0 or "exited after" not in run.stderr:
        problems.append("expected exit 0 saying the process exited: " + run.summary())
    if run.elapsed > 10:
        problems.append("took %.1f s after the kill" % run.elapsed)
    p, stacks = check_profile_text(read_output(out), wl.pid, min_samples=50) if os.path.exists(out) \
        else (["no profile written"], [])
    problems += p
    fail_if(problems, art)
    return ["%d samples written, ended %.1f s after start" % (total(stacks), run.elapsed)]


def test_fault_stop(env):
    """The target is SIGSTOPped for most of the run: no hang, the run ends
    on time with what was sampled."""
    env = with_python(env)
    art = env.artifacts("fault_stop")
    wl = env.workload("threads.py", [], art)
    try:
        wl.wait_ready()
        out = os.path.join(art, "profile.folded")
        prof = Profiler(env.binary, profile_args(wl.pid, 4, DEFAULT_FREQUENCY, out), art)
        prof.wait_started(60)
        time.sleep(1)
        os.kill(wl.pid, signal.SIGSTOP)
        run = prof.finish(60)
    finally:
        if not wl.exited.is_set():
            os.kill(wl.pid, signal.SIGCONT)
        wl.terminate()
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    if run.elapsed > 12:
        problems.append("took %.1f s for a 4 s run" % run.elapsed)
    p, stacks = check_profile_text(read_output(out), wl.pid, min_samples=20) if os.path.exists(out) \
        else (["no profile written"], [])
    fail_if(problems + p, art)
    return ["%d samples, %.1f s" % (total(stacks), run.elapsed)]


def test_fault_exec(env):
    """The target execs another program mid-run: the run ends, saying so,
    with the Python samples from before; nothing of the new program is
    read with the old layout."""
    art = env.artifacts("fault_exec")
    wl = Workload(fault_python(), [os.path.join(WORKLOADS, "faults.py"), "exec"], None, art)
    try:
        wl.wait_ready()
        out = os.path.join(art, "profile.folded")
        run = run_profiler(env.binary, profile_args(wl.pid, 20, DEFAULT_FREQUENCY, out), art, timeout=60)
    finally:
        wl.terminate()
    problems = run.crash_problems()
    if run.rc != 0 or "exec'd another program" not in run.stderr:
        problems.append("expected exit 0 saying the process exec'd: " + run.summary())
    if run.elapsed > 10:
        problems.append("took %.1f s" % run.elapsed)
    p, stacks = check_profile_text(read_output(out), wl.pid, min_samples=50) if os.path.exists(out) \
        else (["no profile written"], [])
    problems += p
    if not any(has_py(s, "before_exec") for s in stacks):
        problems.append("no sample of before_exec")
    fail_if(problems, art)
    return ["%d samples, ended %.1f s after start" % (total(stacks), run.elapsed)]


def build_spinlibs(art):
    libs = []
    for name in ("a", "b"):
        path = os.path.join(art, "libspin_%s.so" % name)
        p = subprocess.run(["cc", "-O2", "-g", "-fPIC", "-shared", "-DNAME=" + name, "-o", path,
                            os.path.join(TESTS, "ext", "spinlib.c")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode:
            raise TestFail("building spinlib: " + p.stdout.decode()[-300:])
        libs.append(path)
    return libs


def attached_tracepoints(pid):
    """The tracepoints process pid has BPF programs on (bpftool perf show)."""
    p = subprocess.run(["bpftool", "-j", "perf", "show"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode:
        raise TestFail("bpftool perf show failed: " + p.stderr.strip()[-200:])
    return {e["tracepoint"] for e in json.loads(p.stdout or "[]")
            if e.get("pid") == pid and e.get("fd_type") == "tracepoint"}


def ringbuf_bytes(pid):
    """The sizes of the BPF ring buffers process pid holds (from the
    fdinfo of its map descriptors; bpftool does not name map owners)."""
    sizes = []
    fds = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fds):
        try:
            with open(os.path.join(fds, fd)) as f:
                info = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except OSError:
            continue   # closed meanwhile
        if info.get("map_type", "").strip() == "27":   # BPF_MAP_TYPE_RINGBUF
            sizes.append(int(info["max_entries"]))
    return sizes


def dlclose_run(env, name, extra, b_seconds):
    """faults.py dlclose profiled at 499 Hz with extra options: the
    folded stacks under call_a and call_b, the workload's info, the
    tracepoints the profiler had attached, and the problems found."""
    art = env.artifacts(name)
    liba, libb = build_spinlibs(art)
    wl = Workload(fault_python(), [os.path.join(WORKLOADS, "faults.py"), "dlclose", liba, libb,
                                   str(b_seconds)], None, art)
    try:
        wl.wait_ready()
        out = os.path.join(art, "profile.folded")
        prof = Profiler(env.binary, profile_args(wl.pid, 20, 499, out) + extra, art)   # ends with the workload
        tracepoints, ring_problems = None, []
        if prof.wait_started(60):
            time.sleep(0.5)
            tracepoints = attached_tracepoints(prof.proc.pid)
            # --pid's ring is small, not sized for the worst case: a ring
            # larger than the cache makes every record a cache miss.
            rings = ringbuf_bytes(prof.proc.pid)
            if rings != [8 << 20]:
                ring_problems.append("--pid's ring buffer: %s bytes, expected [%d]" % (rings, 8 << 20))
        run = prof.finish(60)
        drain_info(wl)
    finally:
        wl.terminate()
    problems = run.crash_problems() + ring_problems
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    fail_if(problems, art)
    stacks = parse_folded(read_output(out))
    under_b = [s for s in stacks if has_py(s, "call_b")]
    under_a = [s for s in stacks if has_py(s, "call_a")]
    wrong = [s for s in under_b if has_native(s, "spin_a")] + [s for s in under_a if has_native(s, "spin_b")]
    if not any(has_native(s, "spin_a") for s in under_a):
        problems.append("spin_a missing under call_a")
    if not under_b:
        problems.append("no samples under call_b")
    return art, under_a, under_b, wrong, wl.info.get("addrs") or {}, tracepoints, problems


def test_fault_dlclose(env):
    """A library is unloaded mid-run and another loaded in its place: no
    sample names a function of the unloaded one after it is gone (the
    munmap tracepoint, the default with --pid)."""
    art, under_a, under_b, wrong, addrs, tps, problems = dlclose_run(env, "fault_dlclose", [], 1.5)
    if tps is not None and "sys_enter_munmap" not in tps:
        problems.append("the munmap tracepoint was not attached (attached: %s)" % sorted(tps))
    if wrong:
        problems.append("%d samples name the other library's function:%s" % (total(wrong), example(wrong)))
    if total([s for s in under_b if has_native(s, "spin_b")]) < 0.5 * max(1, total(under_b)):
        problems.append("spin_b missing under call_b (%d samples there)" % total(under_b))
    fail_if(problems, art)
    return ["%d samples in a, %d in b; b loaded %s" % (total(under_a), total(under_b),
            "at a's address" if addrs.get("a") == addrs.get("b") else "elsewhere")]


def test_fault_dlclose_poll(env):
    """The same with --unmap-check poll (the default of --all): no
    tracepoint is attached, and the change is noticed from /proc/PID/maps
    within about a second, so at most that second of call_b's 4 s is
    named after the unloaded library."""
    art, under_a, under_b, wrong, addrs, tps, problems = dlclose_run(
        env, "fault_dlclose_poll", ["--unmap-check", "poll"], 4)
    if tps is None or "sys_enter_munmap" in tps:
        problems.append("the munmap tracepoint was attached with --unmap-check poll (attached: %s)"
                        % (sorted(tps) if tps is not None else "not read"))
    # 1 s of the 4 s at most, with room for a late check: 40%.
    if total(wrong) > 0.4 * total(under_b):
        problems.append("%d of %d samples under call_b name the unloaded library:%s"
                        % (total(wrong), total(under_b), example(wrong)))
    if total([s for s in under_b if has_native(s, "spin_b")]) < 0.5 * max(1, total(under_b)):
        problems.append("spin_b named in fewer than half of call_b's %d samples" % total(under_b))
    fail_if(problems, art)
    return ["%d samples in a, %d in b (%d named after a); b loaded %s"
            % (total(under_a), total(under_b), total(wrong),
               "at a's address" if addrs.get("a") == addrs.get("b") else "elsewhere")]


def test_fault_disk_full(env):
    """The output file system fills up: exit 1 with one line saying so,
    and no file (neither the profile nor its temporary) left behind."""
    env = with_python(env)
    art = env.artifacts("fault_disk_full")
    small = os.path.join(art, "small")
    os.makedirs(small)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", small]).returncode:
        raise TestSkip("cannot mount a tmpfs")
    try:
        with env.workload("threads.py", [], art) as wl:
            wl.wait_ready()
            out = os.path.join(small, "profile.svg")
            run = run_profiler(env.binary, profile_args(wl.pid, 2, 999, out), art, timeout=60)
        left = os.listdir(small)
    finally:
        subprocess.run(["umount", small])
    # Sampling started (its start line), then writing failed: the last line says why.
    problems = run.crash_problems()
    if run.rc != 1:
        problems.append("exit code %s, expected 1" % run.rc)
    if "No space left" not in run.stderr.strip().split("\n")[-1]:
        problems.append("the last stderr line does not say the disk is full: %r" % run.stderr.strip())
    if left:
        problems.append("files left behind: %s" % left)
    fail_if(problems, art)
    return ["stderr: " + run.stderr.strip().split("\n")[-1]]


def test_fault_sigpipe(env):
    """Profile piped into a reader that is gone before it is written: no
    death by SIGPIPE, but one line saying the pipe broke, and exit 1."""
    env = with_python(env)
    art = env.artifacts("fault_sigpipe")
    with env.workload("threads.py", [], art) as wl:
        wl.wait_ready()
        cmd = "%s --pid %d -d 2 | true; echo RC=${PIPESTATUS[0]}" % (env.binary, wl.pid)
        p = subprocess.run(["bash", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    out, err = p.stdout.decode(), p.stderr.decode()
    m = re.search(r"RC=(\d+)", out)
    problems = []
    rc = int(m.group(1)) if m else None
    if rc != 1:
        problems.append("exit code %s, expected 1 (141 is death by SIGPIPE); stderr %r" % (rc, err[-300:]))
    if "Broken pipe" not in err:
        problems.append("stderr does not say the pipe broke: %r" % err[-300:])
    for marker in ("AddressSanitizer", "runtime error:"):
        if marker in err:
            problems.append("sanitizer report")
    fail_if(problems, art)
    return ["exit %s: %s" % (rc, err.strip().split("\n")[-1])]


def test_security_privileges(env):
    """Once sampling, the profiler holds only the capabilities it needs
    (no CAP_BPF, CAP_PERFMON, CAP_SYS_MODULE, CAP_SETUID...), no new
    privileges, and no BPF object pinned."""
    env = with_python(env)
    art = env.artifacts("security_privileges")
    with env.workload("threads.py", [], art) as wl:
        wl.wait_ready()
        prof = Profiler(env.binary, profile_args(wl.pid, 3, DEFAULT_FREQUENCY, os.path.join(art, "p.folded")),
                        art)
        prof.wait_started(60)
        time.sleep(0.5)
        with open("/proc/%d/status" % prof.proc.pid) as f:
            status = dict(l.split(":", 1) for l in f.read().split("\n") if ":" in l)
        run = prof.finish(60)
    problems = run.crash_problems()
    eff = int(status.get("CapEff", "0").strip(), 16)
    bnd = int(status.get("CapBnd", "0").strip(), 16)
    allowed = (1 << 1) | (1 << 2) | (1 << 19) | (1 << 21)   # DAC_OVERRIDE, DAC_READ_SEARCH, SYS_PTRACE, SYS_ADMIN
    if eff & ~allowed or bnd & ~allowed:
        problems.append("capabilities left: effective %x, bounding %x (allowed %x)" % (eff, bnd, allowed))
    if status.get("NoNewPrivs", "").strip() != "1":
        problems.append("NoNewPrivs is not set")
    pinned = []
    for root, dirs, files in os.walk("/sys/fs/bpf"):
        pinned += [os.path.join(root, f) for f in files if "pp_" in f or "sampler" in f]
    if pinned:
        problems.append("BPF objects pinned: %s" % pinned)
    if run.rc != 0:
        problems.append("exit code %s" % run.rc)
    fail_if(problems, art)
    return ["CapEff %x, CapBnd %x, NoNewPrivs 1" % (eff, bnd)]


def test_security_symlink(env):
    """An output path that is a symlink planted to another file: the link
    is replaced by the profile, the file it pointed to is untouched."""
    env = with_python(env)
    art = env.artifacts("security_symlink")
    victim = os.path.join(art, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    out = os.path.join(art, "profile.folded")
    os.symlink(victim, out)
    with env.workload("threads.py", [], art) as wl:
        wl.wait_ready()
        run = run_profiler(env.binary, profile_args(wl.pid, 1, DEFAULT_FREQUENCY, out), art, timeout=60)
    problems = run.crash_problems()
    with open(victim) as f:
        if f.read() != "precious\n":
            problems.append("the symlink's target was overwritten")
    if os.path.islink(out) or not os.path.isfile(out):
        problems.append("the profile did not replace the symlink")
    fail_if(problems, art)
    return ["symlink replaced, its target untouched"]


def proc_rss_kb(pid, key="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def process_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


LOST_RE = re.compile(r"lost: (\d+) \(ring buffer full\)")


def test_overload(env):
    """1000 Hz on a 64-thread busy target, with a 1 MB ring buffer and the
    profiler stopped for 1.5 s mid-run: the overflow is counted and
    reported, the target keeps running meanwhile, memory stays bounded."""
    env = with_python(env)
    art = env.artifacts("overload")
    out = os.path.join(art, "profile.folded")
    peak = 0
    with env.workload("overload.py", [], art) as wl:
        wl.wait_ready()
        prof = Profiler(env.binary, profile_args(wl.pid, 6, 1000, out) + ["--ringbuf-size", "1"], art)
        prof.wait_started(60)
        time.sleep(1.5)
        os.kill(prof.proc.pid, signal.SIGSTOP)
        cpu0 = process_cpu_seconds(wl.pid)
        time.sleep(1.5)
        cpu1 = process_cpu_seconds(wl.pid)
        os.kill(prof.proc.pid, signal.SIGCONT)
        while prof.proc.poll() is None:
            peak = max(peak, proc_rss_kb(prof.proc.pid) or 0)
            time.sleep(0.2)
        run = prof.finish(60)
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    m = LOST_RE.search(run.stderr)
    lost = int(m.group(1)) if m else None
    if not lost:
        problems.append("no ring-buffer overflow reported: %s" % run.summary())
    if cpu1 - cpu0 < 0.5 * 1.5:
        problems.append("the target used %.2f CPU s in 1.5 s while the profiler was stopped" % (cpu1 - cpu0))
    limit_mb = 2048 if "asan" in env.bin_tag else 300
    if peak > limit_mb * 1024:
        problems.append("profiler RSS reached %.0f MB (limit %d)" % (peak / 1024.0, limit_mb))
    p, stacks = check_profile_text(read_output(out), wl.pid, min_samples=100) if os.path.exists(out) \
        else (["no profile"], [])
    fail_if(problems + p, art)
    return ["%d samples kept, %d lost (ring buffer full); target used %.2f CPU s in the 1.5 s stop; "
            "profiler peak RSS %.0f MB" % (total(stacks), lost, cpu1 - cpu0, peak / 1024.0)]


# The churn program's own call graph: callee -> callers (its Python frames
# adjacent in a stack).
CHURN_CALLERS = {
    "churn_thread": {"Thread.run"},
    "dive": {"dive", "churn_thread"},
    "call_fresh": {"churn_thread"},
    "load_modules": {"churn_thread"},
    "work_leaf": {"dive", "fresh_*"},
    "fresh_*": {"call_fresh"},
    "main_loop": {"main"},
}
MARKERS = ("[unknown]", MARK_TRUNCATED, MARK_NATIVE_TRUNCATED)


# A Python frame with or without its line (a line the table does not give,
# or a table already freed, leaves the frame without one).
ANY_PYFRAME_RE = re.compile(r"^(.+) \((.+?)(?::-?\d+)?\)$")


def churn_name(frame):
    m = ANY_PYFRAME_RE.match(frame)
    if not m:
        return None  # native, kernel, marker (process and thread frames are never passed)
    return "fresh_*" if re.match(r"^fresh_\d+$", m.group(1)) else m.group(1)


def check_churn(stacks):
    """(problems, marked samples): a stack is either right (every adjacent
    pair of the churn program's Python frames is an edge of its call
    graph) or carries a marker."""
    bad, marked = [], 0
    for s in stacks:
        if any(f in MARKERS or f.startswith("[unknown]") for f in s.frames):
            marked += s.count
            continue
        names = [churn_name(f) for f in s.frames[2:]]
        names = [n for n in names if n]
        for caller, callee in zip(names, names[1:]):
            if callee in CHURN_CALLERS and caller not in CHURN_CALLERS[callee]:
                bad.append(s)
                break
    problems = []
    if bad:
        problems.append("%d samples with a wrong caller and no marker:%s" % (total(bad), example(bad)))
    return problems, marked


def selftest_churn_checker():
    good = ["p (1)", "thread t (2)", "Thread.run (/t.py:9)", "churn_thread (/c.py:60)", "dive (/c.py:40)",
            "dive (/c.py:40)", "work_leaf (/c.py:30)"]
    fresh = ["p (1)", "thread t (2)", "Thread.run (/t.py:9)", "churn_thread (/c.py:60)",
             "call_fresh (/c.py:47)", "fresh_12 (churn_fresh.py:2)", "work_leaf (/c.py:30)"]
    stacks = [Stack(good, 3, ""), Stack(fresh, 2, "")]
    assert check_churn(stacks) == ([], 0)
    wrong = list(fresh)
    wrong[4] = "dive (/c.py:40)"        # fresh_* called by dive
    assert check_churn([Stack(wrong, 1, "")])[0]
    assert check_churn([Stack(wrong[:4] + ["[unknown]"] + wrong[4:], 1, "")]) == ([], 1)
    noline = list(fresh)
    noline[5] = "fresh_12 (churn_fresh.py)"   # a frame without its line is still a frame
    assert check_churn([Stack(noline, 1, "")]) == ([], 0)
    skipped = fresh[:5] + fresh[6:]           # the fresh frame gone without a marker
    assert check_churn([Stack(skipped, 1, "")])[0]


STRESS_SECONDS = {"asan": 300, "release": 30}


def test_stress(env):
    """The churning target (threads come and go, code objects are made and
    freed, modules reloaded, recursion up and down) sampled at 999 Hz for
    5 minutes with the ASan build (30 s with the release build): no crash,
    no hang, no sanitizer report; every stack right or marked."""
    env = with_python(env)
    art = env.artifacts("stress")
    seconds = int(os.environ.get("PP_STRESS_SECONDS") or
                  STRESS_SECONDS["asan" if "asan" in env.bin_tag else "release"])
    out = os.path.join(art, "profile.folded")
    with env.workload("churn.py", [], art) as wl:
        wl.wait_ready()
        run = run_profiler(env.binary, profile_args(wl.pid, seconds, 999, out), art, timeout=seconds + 120)
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    fail_if(problems, art)
    stacks = parse_folded(read_output(out))
    problems, marked = check_churn(stacks)
    m = LOST_RE.search(run.stderr)
    fail_if(problems, art)
    return ["%d s at 999 Hz: %d samples, %d marked (%.2f%%), %s lost to a full ring buffer"
            % (seconds, total(stacks), marked, 100.0 * marked / max(1, total(stacks)),
               m.group(1) if m else "?")]


def test_valgrind(env):
    """The release build under valgrind memcheck: a profile and a dump of
    a live multi-threaded target, no error, no definite leak."""
    if "asan" in env.bin_tag:
        raise TestSkip("memcheck runs the release build; this one has ASan")
    env = with_python(env)
    art = env.artifacts("valgrind")
    runs = [("profile", ["--pid", None, "-d", "3", "-F", "49", "-o", os.path.join(art, "p.folded")]),
            ("dump", ["dump", "--pid", None])]
    problems = []
    with env.workload("threads.py", [], art) as wl:
        wl.wait_ready()
        for name, args in runs:
            args = [str(wl.pid) if a is None else a for a in args]
            run = run_profiler(VALGRIND[0], VALGRIND[1:] + [env.binary] + args, art, timeout=300, name=name)
            if run.rc != 0:
                tail = [l for l in run.stderr.split("\n") if "unhandled eBPF" not in l][-12:]
                problems.append("%s: exit code %s under valgrind: %s" % (name, run.rc, " | ".join(tail)))
    fail_if(problems, art)
    return ["a 3 s profile and a dump: memcheck clean"]


def test_no_privileges(env):
    """Without root or the capabilities: one line that says so, exit 1."""
    art = env.artifacts("no_privileges")
    out = os.path.join(art, "unprivileged", "profile.folded")
    os.makedirs(os.path.dirname(out))
    os.chmod(os.path.dirname(out), 0o777)
    with idle_python_target(art) as wl:
        run = run_profiler("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                       "--inh-caps=-all", "--bounding-set=-all", env.binary]
                           + profile_args(wl.pid, 2, DEFAULT_FREQUENCY, out),
                           art, timeout=60)
    problems = check_clean_error(run, out)
    if not problems and not re.search(r"root|sudo|CAP_", run.stderr):
        problems.append("message does not say root is needed: %r" % run.stderr.strip())
    fail_if(problems, art)
    return ["stderr: " + run.stderr.strip()]


def test_help(env):
    """--help lists every option with its default; --version answers."""
    art = env.artifacts("help")
    run = run_profiler(env.binary, ["--help"], art, timeout=30)
    problems = []
    if run.rc != 0:
        problems.append("--help exit code %s" % run.rc)
    text = run.stdout or ""
    for opt in ("--pid", "--seconds", "--frequency", "--output", "--stack-size",
                "--ringbuf-size", "--interp-frames", "--no-threads", "--verbose",
                "--help", "--version"):
        if opt not in text:
            problems.append("--help does not mention %s" % opt)
    for default in ("default: 99", "default: standard output", "default: until Ctrl-C"):
        if default not in text:
            problems.append("--help does not show %r" % default)
    ver = run_profiler(env.binary, ["--version"], art, timeout=30, name="version")
    if ver.rc != 0 or not re.search(r"pybpfprof \d+\.\d+", ver.stdout or ""):
        problems.append("--version: exit %s, %r" % (ver.rc, ver.stdout))
    fail_if(problems, art)
    return []


def test_target_exits_early(env):
    """The target exits while the profiler is still setting up."""
    art = env.artifacts("target_exits_early")
    out = os.path.join(art, "profile.folded")
    wl = Workload(env.python, ["-c", "import time; time.sleep(0.2)"], None, art)
    run = run_profiler(env.binary, profile_args(wl.pid, 5, DEFAULT_FREQUENCY, out),
                       art, timeout=60)
    wl.terminate()
    if run.rc == 1:
        fail_if(check_clean_error(run, out), art)
        notes = ["clean error: " + run.stderr.strip()]
        if not re.search(r"exit|no process|not running|gone", run.stderr, re.I):
            # Not a contract violation, but a misleading diagnosis (e.g. a
            # layout error for a target that is merely finalizing).
            notes.append("NOTE: the message does not say the target exited")
        return notes
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s, expected 1 (error) or 0 (%s)"
                        % (run.rc, run.summary()))
    elif not os.path.exists(out):
        problems.append("exit 0 but no output file")
    elif not re.search(r"exit", run.stderr, re.I):
        problems.append("exit 0 but stderr does not mention the target exiting")
    else:
        problems += check_profile_text(read_output(out), wl.pid, 0)[0]
    fail_if(problems, art)
    return ["target exit during setup reported as success (exit 0)"]


def test_target_exits_during_sampling(env):
    art = env.artifacts("target_exits_during_sampling")
    out = os.path.join(art, "profile.folded")
    with env.workload("ground_truth.py", [], art) as wl:
        wl.wait_ready()
        prof = Profiler(env.binary, profile_args(wl.pid, 5, DEFAULT_FREQUENCY, out),
                        art)
        prof.wait_started()
        time.sleep(1)
        wl.terminate()            # exits 0 within one ~85 ms cycle
        run = prof.finish(timeout=60)
    problems = run.crash_problems()
    if run.rc != 0:
        problems.append("exit code %s (%s)" % (run.rc, run.summary()))
    if not re.search(r"exit", run.stderr, re.I):
        problems.append("stderr does not mention that the target exited: %r"
                        % run.stderr[-300:])
    fail_if(problems, art)
    if not os.path.exists(out):
        fail_if(["no output file written"], art)
    problems, stacks = check_profile_text(read_output(out), wl.pid, min_samples=1)
    env.add_samples(stacks)
    fail_if(problems, art)
    return ["%d samples; profiler ran %.1f s" % (total(stacks), run.elapsed)]


# Interpreter-independent error tests (run once per binary) ---------------

def expect_clean_error(env, art, pid, extra_check=None):
    out = os.path.join(art, "profile.folded")
    run = run_profiler(env.binary, profile_args(pid, 5, DEFAULT_FREQUENCY, out),
                       art, timeout=60)
    problems = check_clean_error(run, out)
    if extra_check and not problems:
        problems += extra_check(run)
    fail_if(problems, art)
    return ["stderr: " + run.stderr.strip()]


def test_commands_bad_input(env):
    """dump and top keep the error contract (exit 1, one line) on a
    missing, a nonexistent and a non-Python target, and on bad options."""
    art = env.artifacts("commands_bad_input")
    problems, notes = [], []
    sleeper = subprocess.Popen(["sleep", "120"])
    other = str(sleeper.pid)
    cases = [(["dump"], "no target"), (["top"], "no target"),
             (["dump", "--pid", str(NONEXISTENT_PID)], "no process"),
             (["top", "--pid", str(NONEXISTENT_PID)], "no process"),
             (["dump", "--pid", other], "not a CPython"), (["top", "--pid", other], "not a CPython"),
             (["top", "--pid", other, "--interval", "0"], "--interval"),
             (["dump", "--pid", "x1"], "--pid takes"), (["dump", "--bogus"], "unknown"),
             (["--all", "--pid", "1"], "exclude"), (["--subprocesses"], "--pid"),
             (["--all", "--output-dir", "/proc/nonexistent/dir"], "output directory"),
             (["--all", "--output", "x.folded", "--output-dir", "/tmp"], "exclude"),
             (["--pid", other, "--exclude", "x"], "--exclude goes with"),
             (["--all", "--exclude", "(unclosed"], "regular expression"),
             (["--pid", other, "--unmap-check", "sometimes"], "--unmap-check takes")]
    try:
        for i, (args, needle) in enumerate(cases):
            run = run_profiler(env.binary, args, art, timeout=60, name="case%d" % i)
            found = check_clean_error(run)
            if not found and needle not in run.stderr:
                found = ["stderr does not say %r: %r" % (needle, run.stderr.strip())]
            problems += ["%s: %s" % (" ".join(args), p) for p in found]
            notes.append(run.stderr.strip())
    finally:
        sleeper.kill()
        sleeper.wait()
    fail_if(problems, art)
    return ["%d cases, e.g. %s" % (len(cases), notes[2])]


def test_nonexistent_pid(env):
    return expect_clean_error(env, env.artifacts("nonexistent_pid"), NONEXISTENT_PID)


def test_reaped_pid(env):
    art = env.artifacts("reaped_pid")
    p = subprocess.Popen(["true"])
    p.wait()
    return expect_clean_error(env, art, p.pid)


def test_not_cpython(env):
    art = env.artifacts("not_cpython")
    p = subprocess.Popen(["sleep", "60"])
    try:
        def mentions_python(run):
            if not re.search(r"python", run.stderr, re.I):
                return ["message does not say the target is not CPython: %r"
                        % run.stderr.strip()]
            return []
        return expect_clean_error(env, art, p.pid, mentions_python)
    finally:
        p.kill()
        p.wait()


FAKEPY_SRC = os.path.join(TESTS, "ext", "fakepy.c")
# Fake interpreters (tests/ext/fakepy.c): name -> cc -D flags.
FAKEPY = {
    "fakepy-3.5": ["-DFAKE_VERSION=0x030500f0"],
    "fakepy-3.13t": ["-DFAKE_VERSION=0x030d00f0", "-DFAKE_FREE_THREADED=1",
                     "-DFAKE_DEBUG_COOKIE=1"],
}


def build_fakepy(env, name):
    """Compile tests/ext/fakepy.c into the work dir; return its path."""
    out = os.path.join(env.workdir, "fakepy", name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cc = os.environ.get("CC", "cc")
    p = subprocess.run([cc, "-O0", "-g", "-rdynamic", "-o", out + ".tmp", FAKEPY_SRC]
                       + FAKEPY[name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise TestFail("cannot build %s: %s"
                       % (name, p.stdout.decode("utf-8", "replace").strip()[-500:]))
    os.rename(out + ".tmp", out)
    return out


def profile_fakepy(env, name, test):
    """Run the profiler on a fake interpreter; return (run, output path)."""
    art = env.artifacts(test)
    exe = build_fakepy(env, name)
    out = os.path.join(art, "profile.folded")
    wl = Workload(exe, [], None, art)
    try:
        wl.wait_ready()
        run = run_profiler(env.binary, profile_args(wl.pid, 2, DEFAULT_FREQUENCY, out),
                           art, timeout=60)
    finally:
        wl.terminate()
    problems = check_clean_error(run, out)
    return run, problems, art


def test_unsupported_version(env):
    """A CPython 3.5.0 (fake: Py_Version 0x030500f0): refused in one line
    that names the version and the supported ones."""
    run, problems, art = profile_fakepy(env, "fakepy-3.5", "unsupported_version")
    msg = run.stderr.strip()
    if not problems:
        if not re.search(r"\b3\.5(\.0)?(?![.\d])", msg):
            problems.append("message does not name Python 3.5.0: %r" % msg)
        if not re.search(r"not support|unsupported", msg, re.I):
            problems.append("message does not say it is not supported: %r" % msg)
        others = set(re.findall(r"\b[23]\.\d+\b", msg)) - {"3.5"}
        if not others:
            problems.append("message names no supported version: %r" % msg)
    fail_if(problems, art)
    return ["REJECTED cleanly: " + msg]


def test_free_threaded(env):
    """A free-threaded 3.13 (fake: _Py_DebugOffsets says free_threaded = 1):
    refused in one line that says free-threaded."""
    run, problems, art = profile_fakepy(env, "fakepy-3.13t", "free_threaded")
    msg = run.stderr.strip()
    if not problems and "free-threaded" not in msg:
        problems.append("message does not say free-threaded: %r" % msg)
    fail_if(problems, art)
    return ["REJECTED cleanly: " + msg]


def idle_python_target(art):
    """Any live CPython process, for tests about the profiler's own input."""
    wl = Workload(sys.executable, ["-c", "import time\nprint('READY', flush=True)\n"
                                         "time.sleep(120)"], None, art)
    try:
        return wl.wait_ready()
    except TestFail:
        wl.terminate()
        raise


def check_rejected_output(env, art, out_path, seconds=10):
    with idle_python_target(art) as wl:
        run = run_profiler(env.binary, profile_args(wl.pid, seconds, DEFAULT_FREQUENCY,
                                                    out_path), art, timeout=60)
    problems = check_clean_error(run, out_path)
    # "Before sampling": a profiler that only noticed at the end would have
    # needed the full --seconds.
    if run.elapsed > seconds - 2:
        problems.append("took %.1f s: the output path was not checked before "
                        "sampling" % run.elapsed)
    fail_if(problems, art)
    return ["stderr: " + run.stderr.strip()]


def test_output_missing_dir(env):
    art = env.artifacts("output_missing_dir")
    out = "/nonexistent-dir/x.folded"
    if os.path.exists(os.path.dirname(out)):
        raise TestSkip("%s exists on this machine" % os.path.dirname(out))
    return check_rejected_output(env, art, out)


def test_output_is_directory(env):
    art = env.artifacts("output_is_directory")
    target_dir = os.path.join(art, "a-directory")
    os.makedirs(target_dir)
    notes = check_rejected_output(env, art, target_dir)
    if not os.path.isdir(target_dir) or os.listdir(target_dir):
        raise TestFail("the directory given as --output was modified")
    return notes


E2E_PER_INTERPRETER = [
    ("ground_truth", test_ground_truth),
    ("threads", test_threads),
    ("shapes", test_shapes),
    ("recursion_300", test_recursion_300),
    ("recursion_2000", test_recursion_2000),
    ("output_file", test_output_file),
    ("output_stdout", test_output_stdout),
    ("sigint", test_sigint),
    ("sigterm", test_sigterm),
    ("native_truncated", test_native_truncated),
    ("bad_input.target_exits_early", test_target_exits_early),
    ("bad_input.target_exits_during_sampling", test_target_exits_during_sampling),
    ("formats", test_formats),
    ("views", test_views),
    ("dump", test_dump),
    ("top", test_top),
]
E2E_PER_BINARY = [
    ("bad_input.nonexistent_pid", test_nonexistent_pid),
    ("bad_input.commands", test_commands_bad_input),
    ("bad_input.reaped_pid", test_reaped_pid),
    ("bad_input.not_cpython", test_not_cpython),
    ("bad_input.unsupported_version", test_unsupported_version),
    ("bad_input.free_threaded", test_free_threaded),
    ("bad_input.output_missing_dir", test_output_missing_dir),
    ("bad_input.output_is_directory", test_output_is_directory),
    ("bad_input.no_privileges", test_no_privileges),
    ("help", test_help),
    ("fleet", test_fleet),
    ("subprocesses", test_subprocesses),
    ("fleet_retain", test_fleet_retain),
    ("container", test_container),
    ("fault.kill", test_fault_kill),
    ("fault.stop", test_fault_stop),
    ("fault.exec", test_fault_exec),
    ("fault.dlclose", test_fault_dlclose),
    ("fault.dlclose_poll", test_fault_dlclose_poll),
    ("fault.disk_full", test_fault_disk_full),
    ("fault.sigpipe", test_fault_sigpipe),
    ("fault.sighup", test_sighup),
    ("security.privileges", test_security_privileges),
    ("security.symlink", test_security_symlink),
    ("overload", test_overload),
    ("valgrind.e2e", test_valgrind),
    ("stress", test_stress),
]


# --------------------------------------------------------------------------
# Self-tests of the parsers and checkers on handcrafted samples
# --------------------------------------------------------------------------

def expand_template(path, script):
    """Fill @FILE@, @LINE:needle@ and @MARK:id@ in a handcrafted sample."""
    lines = [l for l in read_output(path).split("\n")
             if l and not l.startswith("#")]
    text = "".join(l + "\n" for l in lines)
    text = re.sub(r"@LINE:(.+?)@", lambda m: str(source_line(script, m.group(1))),
                  text)
    if "@MARK:" in text:
        marks = source_markers(script)
        text = re.sub(r"@MARK:(.+?)@", lambda m: str(marks[m.group(1)]), text)
    return text.replace("@FILE@", script)


def mutate(text, old, new, count=1):
    if old not in text:
        raise AssertionError("self-test mutation target %r not in sample" % old)
    return text.replace(old, new, count)


def expect(problems, should_fail, what):
    if should_fail and not problems:
        raise TestFail("checker accepted a broken sample: " + what)
    if not should_fail and problems:
        raise TestFail("checker rejected a good sample (%s): %s"
                       % (what, "; ".join(problems)))


def selftest_parse():
    good = "a (1);thread a (1);main;f (/x.py:3) 5\na (1);thread a (1);[unknown] 1\n"
    stacks = parse_folded(good)
    assert [s.count for s in stacks] == [5, 1]
    assert py_frame("outer.<locals>.inner (/a b/c.py:-1)") == \
        ("outer.<locals>.inner", "/a b/c.py", -1)
    assert py_frame("python3.11 (1234)") is None
    assert py_frame("do_syscall_64_[k]") is None
    assert stacks[0].tid == 1
    for bad in ("a (1);thread a (1);main 5x", "a (1);;main 3", "no-count",
                "a (1);thread a (1) -3"):
        try:
            parse_folded(bad + "\n")
        except ParseError:
            continue
        raise TestFail("parse_folded accepted %r" % bad)
    expect(check_structure(parse_folded(good + good), 1), True, "duplicate stacks")
    expect(check_structure(stacks, 2), True, "wrong pid")
    expect(check_structure(parse_folded("a (1);main;f 1\n"), 1), True,
           "missing thread frame")
    expect(check_structure(stacks, 1, "a"), False, "good structure")


def selftest_ground_truth():
    script = os.path.join(WORKLOADS, "ground_truth.py")
    text = expand_template(os.path.join(DATA, "ground_truth.folded.in"), script)
    with open(os.path.join(DATA, "ground_truth.truth.json")) as f:
        truth = json.load(f)

    def check(t):
        stacks = parse_folded(t)
        return check_structure(stacks, 4242) + check_ground_truth(
            stacks, truth, 4242, script, frequency=200, seconds=5)

    expect(check(text), False, "handcrafted ground truth")
    # A C function shown above its Python caller must be caught.
    expect(check(mutate(text, "c_gil_caller (", "c_gil_callerX (")), True,
           "missing Python caller")
    # A callback not under the C function that called it.
    expect(check(mutate(text, "pptest_call_back;pptest_invoke;PyObject_CallObject;",
                        "")), True, "callback not under pptest_call_back")
    # Shares off by more than the tolerance.
    expect(check(mutate(text, "pptest_spin_nogil 230", "pptest_spin_nogil 330")),
           True, "c_nogil share too high")
    # Wrong line number of a calling frame.
    gil_line = source_line(script, "return pptest.burn_gil(ms)")
    expect(check(mutate(text, "ground_truth.py:%d)" % gil_line,
                        "ground_truth.py:%d)" % (gil_line + 1))), True,
           "wrong caller line")
    # <module> missing from many samples.
    expect(check(re.sub(r"<module> \([^)]*\);", "", text, count=3)), True,
           "<module> missing")
    # Every count tripled: shares still right, but the rate is absurd
    # (e.g. one sample per CPU instead of per thread).
    tripled = re.sub(r" (\d+)$", lambda m: " %d" % (3 * int(m.group(1))), text,
                     flags=re.M)
    expect(check(tripled), True, "sample rate")


def selftest_threads():
    text = expand_template(os.path.join(DATA, "threads.folded.in"),
                           os.path.join(WORKLOADS, "threads.py"))
    tids = {"main": 100, "py_spinner": 101, "c_nogil": 102, "sleeper": 103}
    expect(check_threads(parse_folded(text), tids), False, "handcrafted threads")
    # The nogil thread showing the spinner's Python stack: wrong thread state.
    bad = mutate(text, "c_nogil_thread_body (", "py_spinner_body (")
    expect(check_threads(parse_folded(bad), tids), True, "foreign body")
    bad = mutate(text, "thread pp-nogil (102)", "thread pp-nogil (101)")
    expect(check_threads(parse_folded(bad), tids), True, "samples moved threads")


def selftest_shapes():
    script = os.path.join(WORKLOADS, "shapes.py")
    text = expand_template(os.path.join(DATA, "shapes.folded.in"), script)
    shapes = ["generator", "pipeline", "coroutine", "lambda", "sort_key", "genexpr",
              "listcomp", "class_body", "callback", "method"]
    f = "(%s:" % script

    def check(t, version=(3, 12, 1), run=shapes):
        return check_structure(parse_folded(t), 4242) + \
            check_shapes(parse_folded(t), 4242, script, version, run)[0]

    expect(check(text), False, "handcrafted shapes (3.12)")
    # Up to 3.10 frames are named by co_name, and 3.0-3.11 have a <listcomp>.
    old = text
    for qualname in ("shape_lambda.<locals>.<lambda>", "shape_sort_key.<locals>.<lambda>",
                     "shape_genexpr.<locals>.<genexpr>", "shape_class_body.<locals>.Body",
                     "Worker.method"):
        old = mutate(old, qualname + " (", qualname.rsplit(".", 1)[1] + " (", -1)
    lc = "shape_listcomp %s%d);" % (f, source_markers(script)["shape_listcomp.listcomp"])
    old = mutate(old, lc, lc + lc.replace("shape_listcomp", "<listcomp>"))
    expect(check(old, (3, 10, 13)), False, "handcrafted shapes in co_name form (3.10)")
    expect(check(text, (3, 10, 13)), True, "co_qualname names on 3.10")
    expect(check(old, (3, 12, 1)), True, "co_name names on 3.12")
    # Two generator frames swapped.
    outer = re.search(r"pipe_outer \([^)]*\);pipe_inner \([^)]*\);", text).group(0)
    a, b = outer[:-1].split(";")
    expect(check(mutate(text, outer, b + ";" + a + ";")), True, "pipeline frames swapped")
    # A generator frame lost, or shown twice.
    gen = re.search(r"gen_source \([^)]*\);", text).group(0)
    expect(check(mutate(text, gen, "")), True, "generator frame missing")
    expect(check(mutate(text, gen, gen + gen)), True, "generator frame twice")
    # The C function of the callback above its Python caller.
    expect(check(mutate(text, "shape_callback " + f, "pptest_call_back;shape_callback " + f)
                 .replace("pptest_call_back;pptest_invoke;callback_target",
                          "pptest_invoke;callback_target")), True,
           "pptest_call_back above its caller")
    # Wrong line in a caller, leaf line outside the leaf.
    wm = source_markers(script)["Worker.method.leaf_method"]
    expect(check(mutate(text, "Worker.method %s%d)" % (f, wm),
                        "Worker.method %s%d)" % (f, wm + 1))), True, "wrong caller line")
    ll = source_line(script, "x = (x * 73 + i)")
    expect(check(mutate(text, "leaf_method %s%d)" % (f, ll),
                        "leaf_method %s%d)" % (f, ll + 4))), True, "leaf line outside leaf")
    # A foreign Python frame inside a chain; the coroutine without its loop.
    expect(check(mutate(text, "Worker.method " + f,
                        "Thread.run (/usr/lib/python3.12/threading.py:1010);Worker.method "
                        + f)), True, "foreign frame in a chain")
    expect(check(re.sub(r"run \(/usr/lib/python3.12/asyncio/runners.py:194\);.*?"
                        r"PyGen_am_send;", "", text, count=1)), True,
           "coroutine not under the event loop")
    # A caller sample whose frames fit no chain; two leaves in one sample.
    expect(check(mutate(text, "gen_source %s%d)" % (f, source_line(script, "def gen_source(")),
                        "pipe_inner %s%d)" % (f, source_line(script, "def pipe_inner(")))),
           True, "caller sample fits no chain")
    expect(check(mutate(text, "leaf_method (", "leaf_lambda %s1);leaf_method (" % f)),
           True, "two leaves in one sample")
    # Outer Python frames lost without a marker (e.g. a stale frame pointer
    # read in an eval prologue): with or without a shapes.py frame left.
    for lost in ("Py_BytesMain;gen_source %s%d) 1" % (f, source_line(script, "def gen_source(")),
                 "Py_BytesMain;pptest_call_back;pptest_invoke 1"):
        expect(check(text + "python3.12 (4242);thread python3.12 (4242);_start;" + lost + "\n"),
               True, "outer frames lost: " + lost)
    # Too few samples in a leaf; too many marked ones.
    expect(check(re.sub(r"(leaf_method \([^)]*\)) 62$", r"\1 5", text, flags=re.M)),
           True, "too few samples")
    # A leaf sample with a marker is exempt from the chain, up to 1%.
    first = text.split("\n")[0]
    marked = mutate(first, "Py_BytesMain;<module> (", "Py_BytesMain;[unknown];shape_lambda (")
    expect(check(text + re.sub(r" \d+$", " 2", marked) + "\n"), False,
           "few marked samples")
    expect(check(text + re.sub(r" \d+$", " 20", marked) + "\n"), True,
           "many marked samples")
    expect(check(text + re.sub(r" \d+$", " 2", first.replace("[unknown];", "")
                                   .replace("one_round ", "<module> ")) + "\n"), True,
           "an unmarked misplaced sample")
    # On 2.7 the coroutine shape does not run: its leaf must not appear.
    expect(check(text, run=[s for s in shapes if s != "coroutine"]), True,
           "leaf of a shape that did not run")


def recursion_stack(depth, present, marker=None):
    frames = ["python3.11 (7)", "thread python3.11 (7)", "main", "Py_BytesMain"]
    if marker:
        frames.append(marker)
    frames += ["<module> (/r.py:60)", "main (/r.py:57)"]
    frames += ["recurse (/r.py:48)"] * (present - 1) + ["recurse (/r.py:49)"]
    frames += ["recursion_bottom (/r.py:35)", "bottom_step (/r.py:26)"]
    return ";".join(frames) + " 10\n"


def selftest_recursion():
    ok = recursion_stack(300, 300) + recursion_stack(300, 120, MARK_TRUNCATED)
    both = (MARK_TRUNCATED, MARK_NATIVE_TRUNCATED)
    problems, full, marked = check_recursion(parse_folded(ok), 300, both)
    expect(problems, False, "full + marked recursion")
    assert (full, marked) == (10, 10), (full, marked)
    silent = recursion_stack(300, 299)
    expect(check_recursion(parse_folded(silent), 300, both)[0], True,
           "silently cut recursion")
    dup = recursion_stack(300, 301)
    expect(check_recursion(parse_folded(dup), 300, both)[0], True,
           "duplicated recursion frames")
    native_only = recursion_stack(2000, 200, MARK_NATIVE_TRUNCATED)
    expect(check_recursion(parse_folded(native_only), 2000, (MARK_TRUNCATED,))[0],
           True, "depth 2000 cut without [truncated]")


def selftest_error_contract():
    run = ProfRun()
    run.rc, run.stderr = 1, "pybpfprof: no such process: 4194303\n"
    expect(check_clean_error(run), False, "clean error")
    run.stderr = "starting\npybpfprof: no such process\n"
    expect(check_clean_error(run), True, "two stderr lines")
    run.rc, run.stderr = 1, "==1==ERROR: AddressSanitizer: heap-use-after-free\n"
    expect(check_clean_error(run), True, "sanitizer report")
    run.rc, run.stderr = -11, "x\n"
    expect(check_clean_error(run), True, "crash")


SELFTESTS = [
    ("selftest.parse", selftest_parse),
    ("selftest.ground_truth_checker", selftest_ground_truth),
    ("selftest.threads_checker", selftest_threads),
    ("selftest.recursion_checker", selftest_recursion),
    ("selftest.shapes_checker", selftest_shapes),
    ("selftest.error_contract_checker", selftest_error_contract),
    ("selftest.dump_checker", dump_check.selftest),
    ("selftest.top_checker", top_check.selftest),
    ("selftest.churn_checker", selftest_churn_checker),
    ("selftest.speedscope_checker", speedscope_check.selftest),
    ("selftest.pprof_checker", lambda: fail_if(pprof_check.selftest())),
    ("selftest.svg_checker", lambda: fail_if(svg_check.selftest())),
    ("selftest.pyroscope_receiver", lambda: fail_if(pyroscope_receiver.selftest())),
]


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def test_install():
    """make install into a DESTDIR: the binary runs, the docs and the
    fleet unit are there, and the unit's ExecStart names the installed
    binary with options it knows."""
    dest = os.path.join(REPO, "build", "test-work", "install")
    shutil.rmtree(dest, ignore_errors=True)
    p = subprocess.run(["make", "-s", "install", "DESTDIR=" + dest, "PREFIX=/usr"], cwd=REPO,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise TestFail("make install: " + p.stdout.decode("utf-8", "replace")[-500:])
    problems = []
    binary = os.path.join(dest, "usr/bin/pybpfprof")
    for rel in ("usr/share/doc/pybpfprof/README.md", "usr/share/doc/pybpfprof/fleet.md",
                "usr/share/doc/pybpfprof/formats/svg.md"):
        if not os.path.exists(os.path.join(dest, rel)):
            problems.append("%s not installed" % rel)
    unit_path = os.path.join(dest, "usr/lib/systemd/system/pybpfprof-fleet.service")
    if not os.path.exists(unit_path):
        raise TestFail("the systemd unit is not installed")
    with open(unit_path) as f:
        unit = f.read()
    for section in ("[Unit]", "[Service]", "[Install]"):
        if section not in unit:
            problems.append("unit lacks %s" % section)
    m = re.search(r"^ExecStart=(\S+)(.*)$", unit, re.M)
    if not m or m.group(1) != "/usr/bin/pybpfprof":
        problems.append("ExecStart does not name /usr/bin/pybpfprof: %r" % (m and m.group(0)))
    else:
        helptext = subprocess.run([binary, "--help"], stdout=subprocess.PIPE).stdout.decode()
        for opt in re.findall(r"(--[a-z-]+)", m.group(2)):
            if opt not in helptext:
                problems.append("ExecStart uses %s, which --help does not know" % opt)
    if "@" in unit:
        problems.append("unsubstituted @...@ left in the unit")
    fail_if(problems)
    return ["installed into %s: binary, docs, pybpfprof-fleet.service" % display_path(dest)]


def run_unit(path):
    try:
        p = subprocess.run([path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
    except FileNotFoundError:
        raise TestFail("%s not found" % path)
    except subprocess.TimeoutExpired:
        raise TestFail("timed out after 300 s")
    out = p.stdout.decode("utf-8", "replace").rstrip()
    if p.returncode != 0:
        sys.stdout.write("\n".join("  | " + l for l in out.split("\n")[-60:]) + "\n")
        raise TestFail("exit code %d (output above)" % p.returncode)
    return [l for l in out.split("\n") if l.startswith("fuzz:")][-1:]


VALGRIND = ["valgrind", "--suppressions=" + os.path.join(TESTS, "valgrind.supp"), "--error-exitcode=99",
            "--leak-check=full", "--errors-for-leak-kinds=definite", "-q"]


def run_valgrind_unit(path):
    p = subprocess.run(VALGRIND + [path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=900)
    out = p.stdout.decode("utf-8", "replace").rstrip()
    if p.returncode != 0:
        sys.stdout.write("\n".join("  | " + l for l in out.split("\n")[-40:]) + "\n")
        raise TestFail("exit code %d under valgrind (output above)" % p.returncode)
    return []


def python_version(python):
    """(major, minor, micro) of an interpreter, asked to itself."""
    p = subprocess.run([python, "-c", "import sys; sys.stdout.write("
                        "'%d %d %d' % tuple(sys.version_info[:3]))"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.decode("utf-8", "replace").strip()
    if p.returncode != 0 or not re.match(r"^\d+ \d+ \d+$", out):
        raise TestFail("cannot ask %s its version: %s" % (python, out[-300:]))
    return tuple(int(x) for x in out.split())


def build_ext(tag, python):
    out = os.path.join(REPO, "build", "ext", tag)
    p = subprocess.run(["sh", os.path.join(TESTS, "ext", "build.sh"), python, out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise TestFail(p.stdout.decode("utf-8", "replace").strip()[-800:])
    return out


def display_path(path):
    rel = os.path.relpath(path, REPO)
    return path if rel.startswith("..") else rel


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", action="append", default=[], metavar="PATH",
                   help="profiler binary to test (repeatable; default "
                        "$PP_BIN or build/pybpfprof)")
    p.add_argument("--valgrind-unit", action="append", default=[], metavar="PATH",
                   help="C unit-test binary to run under valgrind memcheck (repeatable)")
    p.add_argument("--unit", action="append", default=[], metavar="PATH",
                   help="C unit-test binary (repeatable; exit 0 = pass)")
    p.add_argument("--python", action="append", default=[], metavar="TAG=PATH",
                   help="replace the default interpreter list (repeatable)")
    p.add_argument("-k", dest="name_filter", metavar="SUBSTR",
                   help="only run tests whose name contains SUBSTR")
    p.add_argument("--seconds", type=int, default=DEFAULT_SECONDS,
                   help="profile length of the main e2e tests (default 5)")
    p.add_argument("--workdir", default=os.path.join(REPO, "build", "test-work"),
                   help="where test artifacts are kept")
    p.add_argument("--no-e2e", action="store_true",
                   help="only self-tests and unit tests (no root needed)")
    return p.parse_args(argv)


def interpreters(args):
    if not args.python:
        return INTERPRETERS
    pairs = []
    for spec in args.python:
        tag, sep, path = spec.partition("=")
        if not sep:
            tag, path = os.path.basename(spec), spec
        pairs.append((tag, path))
    return pairs


def run_e2e(rep, args):
    binaries = [os.path.abspath(b) for b in args.bin] or \
        [os.path.abspath(os.environ.get("PP_BIN") or os.path.join(REPO, "build",
                                                                    "pybpfprof"))]
    if os.geteuid() != 0:
        rep.report("SKIP", "e2e", "not root (the profiler needs root)")
        return
    os.makedirs(args.workdir, exist_ok=True)
    usable_bins = []
    for b in binaries:
        if os.access(b, os.X_OK):
            usable_bins.append((display_path(b), b))
        else:
            rep.report("FAIL", "binary[%s]" % display_path(b),
                       "not found or not executable (build it first)")
    # Interpreter-independent tests, once per binary.
    for bin_tag, b in usable_bins:
        env = Env(args.workdir, args.seconds, binary=b, bin_tag=bin_tag,
                  python=sys.executable)
        for name, fn in E2E_PER_BINARY:
            rep.run("%s[%s]" % (name, bin_tag), fn, env)
    for tag, python in interpreters(args):
        stats = InterpStats(python)
        rep.table.append((tag, stats))
        if not os.access(python, os.X_OK):
            stats.missing = True
            rep.report("SKIP", "interpreter[%s]" % tag,
                       "%s NOT FOUND: its e2e tests did not run" % python)
            continue
        names = ["%s[%s,%s]" % (n, tag, bt) for n, _ in E2E_PER_INTERPRETER
                 for bt, _ in usable_bins]
        if not any(rep.wanted(n) for n in names):
            continue
        rep.interp = stats
        try:
            ext_dir, version = [], []

            def prepare():
                version.append(python_version(python))
                ext_dir.append(build_ext(tag, python))
                return ["Python %d.%d.%d" % version[0]]
            if not rep.run("build_ext[%s]" % tag, prepare, force=True):
                continue
            stats.version = "%d.%d.%d" % version[0]
            for bin_tag, b in usable_bins:
                env = Env(args.workdir, args.seconds, tag, python, ext_dir[0], b, bin_tag,
                          version[0], stats)
                for name, fn in E2E_PER_INTERPRETER:
                    rep.run("%s[%s,%s]" % (name, tag, bin_tag), fn, env)
        finally:
            rep.interp = None


def main(argv):
    args = parse_args(argv)
    rep = Reporter(args.name_filter)
    for name, fn in SELFTESTS:
        rep.run(name, fn)
    for path in args.unit:
        rep.run("unit[%s]" % display_path(os.path.abspath(path)), run_unit, path)
    for path in args.valgrind_unit:
        rep.run("valgrind.unit[%s]" % display_path(os.path.abspath(path)), run_valgrind_unit, path)
    rep.run("install", test_install)
    if not args.no_e2e:
        run_e2e(rep, args)
        rep.summary_table()
    return rep.final()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
