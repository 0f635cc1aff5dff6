#!/usr/bin/python3
"""Checks a speedscope file written by pybpfprof.

Two layers:
  SCHEMA            speedscope's file format as a JSON Schema (draft-07),
                    written for this project from the format's description;
  check_speedscope  the schema, then what a schema cannot say: indices in
                    range, one weight per sample, endValue matching the
                    weights, and per thread the same per-function totals as
                    the folded output of the same samples.

Usage:
  speedscope_check.py --selftest
  speedscope_check.py FILE.speedscope.json [FILE.folded] [--frequency HZ]
Exit status 0 when no problem is found, 1 otherwise (each problem on stderr).

Needs Debian's python3-jsonschema (make deps installs it).
"""

import json
import math
import os
import re
import sys
import tempfile

import jsonschema

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"

# The units speedscope knows how to display.
UNITS = ["none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"]

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "speedscope file",
    "description": "A document speedscope can open: frames shared by all profiles, "
                   "and the profiles themselves, each sampled or evented.",
    "type": "object",
    "required": ["$schema", "shared", "profiles"],
    "properties": {
        "$schema": {
            "description": "Names the format; speedscope recognises its files by it.",
            "const": SCHEMA_URL,
        },
        "name": {"description": "Shown as the document's title.", "type": "string"},
        "activeProfileIndex": {
            "description": "The profile shown first, an index into profiles.",
            "type": "integer",
            "minimum": 0,
        },
        "exporter": {"description": "What wrote the file, and its version.", "type": "string"},
        "shared": {
            "type": "object",
            "required": ["frames"],
            "properties": {
                "frames": {"type": "array", "items": {"$ref": "#/definitions/frame"}},
            },
        },
        "profiles": {
            "type": "array",
            "items": {
                "oneOf": [
                    {"$ref": "#/definitions/sampledProfile"},
                    {"$ref": "#/definitions/eventedProfile"},
                ]
            },
        },
    },
    "definitions": {
        "unit": {
            "description": "What weights and event times measure.",
            "enum": UNITS,
        },
        "frame": {
            "description": "A function; samples and events refer to it by its index.",
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "file": {"type": "string"},
                "line": {"type": "integer"},
                "col": {"type": "integer"},
            },
        },
        "sampledProfile": {
            "description": "Stacks with weights: samples[i] (frame indices, outermost "
                           "first) weighs weights[i].",
            "type": "object",
            "required": ["type", "name", "unit", "startValue", "endValue", "samples", "weights"],
            "properties": {
                "type": {"const": "sampled"},
                "name": {"type": "string"},
                "unit": {"$ref": "#/definitions/unit"},
                "startValue": {"type": "number"},
                "endValue": {"type": "number"},
                "samples": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                },
                "weights": {"type": "array", "items": {"type": "number"}},
            },
        },
        "eventedProfile": {
            "description": "Frames opened and closed at points in time.",
            "type": "object",
            "required": ["type", "name", "unit", "startValue", "endValue", "events"],
            "properties": {
                "type": {"const": "evented"},
                "name": {"type": "string"},
                "unit": {"$ref": "#/definitions/unit"},
                "startValue": {"type": "number"},
                "endValue": {"type": "number"},
                "events": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "at", "frame"],
                        "properties": {
                            "type": {"enum": ["O", "C"]},
                            "at": {"type": "number"},
                            "frame": {"type": "integer", "minimum": 0},
                        },
                    },
                },
            },
        },
    },
}

# Folded frames (see docs/pybpfprof.md): the root "comm (pid)", then
# "thread name (tid)" unless --no-threads.
PROCESS_RE = re.compile(r"^.* \(\d+\)$")
THREAD_RE = re.compile(r"^thread .* \(\d+\)$")
FOLDED_RE = re.compile(r"^(.*) (\d+)$")
KERNEL_SUFFIX = " [kernel]"


def parse_folded(text):
    """Folded text -> [(frames root first, count)]. Bytes that are not UTF-8
    are decoded as U+FFFD the way the speedscope writer replaces them."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    stacks = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        m = FOLDED_RE.match(line)
        if not m:
            raise ValueError("folded line %d is not 'frames COUNT': %r" % (lineno, line[:200]))
        stacks.append((m.group(1).split(";"), int(m.group(2))))
    return stacks


def folded_clean(label):
    """What the folded writer does to a name so that lines parse."""
    return label.replace(";", ":").replace("\n", " ").replace("\r", " ")


def split_stack(frames):
    """(profile name, body) of a folded stack: the thread's profile, or the
    process's when the stack has no thread frame."""
    frames = list(frames)
    if len(frames) >= 2 and PROCESS_RE.match(frames[0]) and THREAD_RE.match(frames[1]):
        return frames[1], frames[2:]
    if frames and PROCESS_RE.match(frames[0]):
        return frames[0], frames[1:]
    return None, frames


def frame_label(frame, known):
    """The folded label of a speedscope frame. A frame with a file and no
    line is a Python function without line numbers ("qualname (file)") or a
    native one ("symbol"): whichever the folded side has decides."""
    name, path, line = frame["name"], frame.get("file"), frame.get("line")
    if path is None:
        if name.endswith(KERNEL_SUFFIX):
            return folded_clean(name[: -len(KERNEL_SUFFIX)] + "_[k]")
        return folded_clean(name)
    if line is not None:
        return folded_clean("%s (%s:%s)" % (name, path, line))
    python = folded_clean("%s (%s)" % (name, path))
    return python if python in known else folded_clean(name)


def close(a, b, rel=1e-9, abs_tol=0.5):
    """Equal up to rounding: a writer may round a value to a whole unit."""
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)


def load(json_path, problems):
    """The document, or None with the reason in problems."""
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            problems.append("duplicate keys in an object: %s" % ", ".join(dup))
        return dict(pairs)

    def no_constant(name):
        raise ValueError("%s is not JSON" % name)

    try:
        with open(json_path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except UnicodeDecodeError as e:
        problems.append("not UTF-8: %s" % e)
    except ValueError as e:
        problems.append("not JSON: %s" % e)
    except OSError as e:
        problems.append("cannot read %s: %s" % (json_path, e))
    return None


def check_schema(doc):
    validator = jsonschema.Draft7Validator(SCHEMA)
    out = []
    for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        out.append("schema: %s: %s" % (where, e.message))
    return out


def check_structure(doc):
    """What the schema cannot say about any speedscope file."""
    out = []
    nframes = len(doc["shared"]["frames"])
    profiles = doc["profiles"]
    active = doc.get("activeProfileIndex")
    if active is not None and active >= len(profiles):
        out.append("activeProfileIndex %d: there are %d profiles" % (active, len(profiles)))
    for i, prof in enumerate(profiles):
        what = "profile %d (%r)" % (i, prof["name"])
        if prof["type"] == "evented":
            bad = [ev["frame"] for ev in prof["events"] if ev["frame"] >= nframes]
            if bad:
                out.append("%s: event frame %d out of range (%d frames)" % (what, bad[0], nframes))
            continue
        samples, weights = prof["samples"], prof["weights"]
        if len(samples) != len(weights):
            out.append("%s: %d samples but %d weights" % (what, len(samples), len(weights)))
        for j, s in enumerate(samples):
            bad = [x for x in s if x >= nframes]
            if bad:
                out.append("%s: sample %d: frame %d out of range (%d frames)" % (what, j, bad[0], nframes))
        if any(w < 0 for w in weights):
            out.append("%s: negative weight" % what)
        total = sum(weights)
        if not close(prof["endValue"] - prof["startValue"], total):
            out.append("%s: endValue - startValue = %r, but the weights add up to %r"
                       % (what, prof["endValue"] - prof["startValue"], total))
    return out


def thread_totals(doc, known):
    """{profile name: (total weight, {function label: weight})}, a function
    counted once per sample however often it recurses in it."""
    frames = doc["shared"]["frames"]
    out = {}
    for prof in doc["profiles"]:
        name = folded_clean(prof["name"])
        labels = [frame_label(f, known.get(name, set())) for f in frames]
        total, funcs = out.get(name, (0, {}))
        for s, w in zip(prof["samples"], prof["weights"]):
            total += w
            for label in {labels[x] for x in s}:
                funcs[label] = funcs.get(label, 0) + w
        out[name] = (total, funcs)
    return out


def folded_totals(stacks):
    """The same from folded stacks, in counts."""
    out = {}
    for frames, count in stacks:
        name, body = split_stack(frames)
        total, funcs = out.get(name, (0, {}))
        total += count
        for label in set(body):
            funcs[label] = funcs.get(label, 0) + count
        out[name] = (total, funcs)
    return out


def check_against_folded(doc, stacks, frequency=None):
    """Per thread, per function: speedscope's weights = folded counts times
    the weight of one sample (the sampling period in ns, or 1 for "none")."""
    out = []
    units = {p["unit"] for p in doc["profiles"]}
    if not units <= {"nanoseconds", "none"} or len(units) > 1:
        out.append("units %s: pybpfprof writes nanoseconds (or none without a frequency) in every profile"
                   % sorted(units))
    if any(p["type"] != "sampled" for p in doc["profiles"]):
        return out + ["pybpfprof writes sampled profiles only"]
    names = [folded_clean(p["name"]) for p in doc["profiles"]]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        out.append("two profiles named %s" % dup[0])
    want = folded_totals(stacks)
    if None in want:
        # stacks without a process frame are under the document's title
        want[folded_clean(doc.get("name", "samples"))] = want.pop(None)
    known = {name: set(funcs) for name, (_, funcs) in want.items()}
    got = thread_totals(doc, known)

    counts = sum(t for t, _ in want.values())
    weights = sum(t for t, _ in got.values())
    if "none" in units:
        per = 1.0
    elif frequency:
        per = 1e9 / frequency
    else:
        per = weights / counts if counts else 1.0
    # a writer may round the period to a whole unit: half a unit per sample
    tol = 0.5 if (frequency and "nanoseconds" in units) else 0.0

    for name in sorted(set(want) | set(got), key=str):
        if name not in got:
            out.append("no profile for %s (%d samples in the folded output)" % (name, want[name][0]))
            continue
        if name not in want:
            out.append("profile %s has no stack in the folded output" % name)
            continue
        (wt, wf), (gt, gf) = want[name], got[name]
        if not close(gt, wt * per, abs_tol=0.5 + tol * wt):
            out.append("%s: total weight %r, expected %r (%d samples)" % (name, gt, wt * per, wt))
        for func in sorted(set(wf) | set(gf)):
            c, w = wf.get(func, 0), gf.get(func, 0)
            if not close(w, c * per, abs_tol=0.5 + tol * c):
                out.append("%s: %s weighs %r, expected %r (%d samples)" % (name, func, w, c * per, c))
    return out


def check_speedscope(json_path, stacks, frequency=None):
    """Problems with the speedscope file at json_path; [] when it passes.

    stacks: [(frames root first, count)] parsed from the folded output of the
    same samples (parse_folded), or None to check the file alone.
    frequency: the sampling frequency in Hz, if known: then a nanosecond
    weight must be exactly one period per sample (rounded to 1 ns); without
    it the period is inferred from the totals."""
    problems = []
    doc = load(json_path, problems)
    if doc is None:
        return problems
    problems += check_schema(doc)
    if problems:
        return problems
    problems += check_structure(doc)
    if problems or stacks is None:
        return problems
    return check_against_folded(doc, stacks, frequency)


def _example():
    """A small document and the folded stacks of the same samples: two
    threads, every kind of frame, recursion, a stack empty below its thread."""
    period = 10_000_000  # 100 Hz
    doc = {
        "$schema": SCHEMA_URL,
        "name": "python3 (10): app.py",
        "exporter": "pybpfprof test",
        "activeProfileIndex": 0,
        "shared": {"frames": [
            {"name": "main", "file": "app.py", "line": 10},
            {"name": "work", "file": "app.py", "line": 4},
            {"name": "memcpy", "file": "/lib/libc.so.6"},
            {"name": "do_syscall_64 [kernel]"},
            {"name": "[truncated]"},
            {"name": "rec", "file": "app.py"},
        ]},
        "profiles": [
            {"type": "sampled", "name": "thread main (10)", "unit": "nanoseconds",
             "startValue": 0, "endValue": 7 * period,
             "samples": [[], [0, 1], [0, 1, 2, 3], [0, 5, 5]],
             "weights": [1 * period, 2 * period, 1 * period, 3 * period]},
            {"type": "sampled", "name": "thread w;x (11)", "unit": "nanoseconds",
             "startValue": 0, "endValue": period,
             "samples": [[4]], "weights": [period]},
        ],
    }
    folded = ("python3 (10);thread main (10) 1\n"
              "python3 (10);thread main (10);main (app.py:10);work (app.py:4) 2\n"
              "python3 (10);thread main (10);main (app.py:10);work (app.py:4);memcpy;do_syscall_64_[k] 1\n"
              "python3 (10);thread main (10);main (app.py:10);rec (app.py);rec (app.py) 3\n"
              "python3 (10);thread w:x (11);[truncated] 1\n")
    return doc, parse_folded(folded)


def selftest():
    """The checker accepts a correct document and reports each kind of
    mistake; raises AssertionError otherwise."""
    jsonschema.Draft7Validator.check_schema(SCHEMA)

    def run(doc, stacks, frequency=None, raw=None):
        fd, path = tempfile.mkstemp(suffix=".speedscope.json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw if raw is not None else json.dumps(doc).encode())
            return check_speedscope(path, stacks, frequency)
        finally:
            os.unlink(path)

    doc, stacks = _example()
    for freq in (None, 100):
        got = run(doc, stacks, freq)
        assert got == [], "a valid document fails: %s" % got
    assert run(doc, None) == []

    def mutated(change, stacks=stacks, frequency=None, expect=None):
        d, _ = _example()
        change(d)
        got = run(d, stacks, frequency)
        assert got, "not reported: %s" % change.__doc__
        if expect:
            assert any(expect in p for p in got), "%s: %s not in %s" % (change.__doc__, expect, got)

    def index_out_of_range(d):
        """an out-of-range frame index"""
        d["profiles"][0]["samples"][1][1] = 6
    mutated(index_out_of_range, expect="out of range")

    def negative_index(d):
        """a negative frame index"""
        d["profiles"][0]["samples"][1][1] = -1
    mutated(negative_index, expect="schema")

    for field in ("endValue", "samples", "unit", "name", "type"):
        def missing(d, field=field):
            del d["profiles"][0][field]
        missing.__doc__ = "profile without %s" % field
        mutated(missing, expect="schema")

    def no_frames(d):
        """shared without frames"""
        del d["shared"]["frames"]
    mutated(no_frames, expect="schema")

    def no_schema(d):
        """no $schema"""
        del d["$schema"]
    mutated(no_schema, expect="schema")

    def frame_no_name(d):
        """a frame without a name"""
        del d["shared"]["frames"][2]["name"]
    mutated(frame_no_name, expect="schema")

    def weight_changed(d):
        """a weight changed (endValue kept)"""
        d["profiles"][0]["weights"][1] += 10_000_000
    mutated(weight_changed, expect="endValue")

    def weight_and_end_changed(d):
        """a weight changed with endValue following it"""
        d["profiles"][0]["weights"][1] += 10_000_000
        d["profiles"][0]["endValue"] += 10_000_000
    mutated(weight_and_end_changed, expect="work (app.py:4)")

    def weight_dropped(d):
        """one weight fewer than samples"""
        d["profiles"][1]["weights"].pop()
        d["profiles"][1]["endValue"] = 0
    mutated(weight_dropped, expect="samples but")

    def unknown_unit(d):
        """a unit speedscope does not know"""
        d["profiles"][0]["unit"] = "furlongs"
    mutated(unknown_unit, expect="schema")

    def wrong_unit(d):
        """a unit of speedscope's that does not measure these weights"""
        for p in d["profiles"]:
            p["unit"] = "bytes"
    mutated(wrong_unit, expect="units")

    def counts_as_none(d):
        """unit none while the weights are nanoseconds"""
        for p in d["profiles"]:
            p["unit"] = "none"
    mutated(counts_as_none)

    def other_frequency(d):
        """weights of another frequency than the one given"""
    mutated(other_frequency, frequency=99, expect="expected")

    def thread_missing(d):
        """a thread's profile left out"""
        del d["profiles"][1]
    mutated(thread_missing, expect="no profile for thread w:x (11)")

    def renamed(d):
        """a function renamed"""
        d["shared"]["frames"][1]["name"] = "work2"
    mutated(renamed, expect="work2")

    def empty_sample_dropped(d):
        """the sample with no frame below its thread left out"""
        p = d["profiles"][0]
        del p["samples"][0], p["weights"][0]
        p["endValue"] -= 10_000_000
    mutated(empty_sample_dropped, expect="total weight")

    # a function counted once per sample, on both sides, however often it
    # recurses: rec is in 3 samples, twice in each
    got = thread_totals(doc, {"thread main (10)": {"rec (app.py)"}})["thread main (10)"][1]
    assert got["rec (app.py)"] == 3 * 10_000_000, got
    assert folded_totals(stacks)["thread main (10)"][1]["rec (app.py)"] == 3

    def active_out_of_range(d):
        """activeProfileIndex past the profiles"""
        d["activeProfileIndex"] = 2
    mutated(active_out_of_range, expect="activeProfileIndex")

    got = run(None, stacks, raw=b'{"$schema": "\xff"}')
    assert got and "UTF-8" in got[0], got
    got = run(None, stacks, raw=b'{"a": NaN}')
    assert got and "JSON" in got[0], got
    got = run(None, stacks, raw=json.dumps(doc).encode()[:-1] + b', "name": "x"}')
    assert any("duplicate" in p for p in got), got

    # the evented alternative is a valid profile of the format
    evented = {"$schema": SCHEMA_URL, "shared": {"frames": [{"name": "a"}]},
               "profiles": [{"type": "evented", "name": "e", "unit": "milliseconds",
                             "startValue": 0, "endValue": 2,
                             "events": [{"type": "O", "at": 0, "frame": 0},
                                        {"type": "C", "at": 2, "frame": 0}]}]}
    assert run(evented, None) == []
    evented["profiles"][0]["events"][1]["type"] = "X"
    assert run(evented, None), "an evented event of unknown type passes"


def main(argv):
    if argv[1:] == ["--selftest"]:
        selftest()
        print("speedscope_check selftest: ok")
        return 0
    args, frequency = [], None
    i = 1
    while i < len(argv):
        if argv[i] == "--frequency" and i + 1 < len(argv):
            frequency = float(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    stacks = None
    if len(args) == 2:
        with open(args[1], "rb") as f:
            stacks = parse_folded(f.read())
    problems = check_speedscope(args[0], stacks, frequency)
    for p in problems:
        print("speedscope_check: %s" % p, file=sys.stderr)
    print("speedscope_check: %s: %s" % (args[0], "%d problems" % len(problems) if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
