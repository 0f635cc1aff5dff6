#!/usr/bin/python3
"""A stand-in for a Pyroscope server's ingest endpoint, for the fleet tests
(standard library only; run by /usr/bin/python3).

    pyroscope_receiver.py OUT.jsonl [--port N] [--port-file PATH]
                          [--down PATH] [--invalid PATH]
    pyroscope_receiver.py --selftest

Listens on 127.0.0.1 (port 0: any free one; the port is printed as
"listening on 127.0.0.1:PORT" and, with --port-file, written to that file
once the socket is ready) and checks every request against the ingest API
pybpfprof speaks (docs/pyroscope.md):

    POST /ingest?name=APP{k=v,...}&from=N&until=N&sampleRate=N
         &spyName=pybpfprof&units=samples&aggregationType=sum&format=folded
    Content-Type: text/plain, Content-Length: N, body: folded lines "frames COUNT"

with the name percent-encoded, every parameter exactly once and none else.
A valid request is appended as one JSON object per line to OUT.jsonl
(fields: app, labels, from, until, sampleRate, spyName, units,
aggregationType, format, body, lines, samples, time) and answered 200.
While the --down marker file exists (default OUT.jsonl.down) every request
is answered 503 and not recorded, so a test can make the server fail and
recover. An invalid request is answered 400 with its problems, logged on
stderr and appended to --invalid (default OUT.jsonl.invalid) as JSON lines
(method, target, problems, time). SIGTERM or SIGINT stops it.

    validate(method, target, headers, body) -> (record or None, [problem, ...])

is the checking itself; selftest() -> [problem, ...] runs an instance in
this process and posts good and bad requests to it ([] = pass).
"""
import argparse
import http.client
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 << 20
NAME_CHARS = r"[A-Za-z0-9_.-]+"
NAME_RE = re.compile(r"^(%s)(?:\{(.*)\})?$" % NAME_CHARS, re.S)
LABEL_RE = re.compile(r"^(%s)=(%s)$" % (NAME_CHARS, NAME_CHARS))
UINT_RE = re.compile(r"^[0-9]{1,20}$")
# parameter -> the one value it must have (None: checked on its own)
PARAMS = {
    "name": None,
    "from": None,
    "until": None,
    "sampleRate": None,
    "spyName": "pybpfprof",
    "units": "samples",
    "aggregationType": "sum",
    "format": "folded",
}


def parse_folded_body(text):
    """[(frames, count)] of a folded body; raises ValueError on a bad line."""
    out = []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the text ends with a newline (or is empty)
    for i, line in enumerate(lines):
        if "\r" in line:
            raise ValueError("line %d has a carriage return" % (i + 1))
        frames, sep, count = line.rpartition(" ")
        if not sep or not frames:
            raise ValueError("line %d is not 'frames COUNT': %r" % (i + 1, line[:80]))
        if not UINT_RE.match(count) or int(count) == 0:
            raise ValueError("line %d: count %r is not a positive integer" % (i + 1, count[:20]))
        parts = frames.split(";")
        if any(p == "" for p in parts):
            raise ValueError("line %d has an empty frame: %r" % (i + 1, line[:80]))
        out.append((parts, int(count)))
    return out


def validate(method, target, headers, body):
    """Checks one request; returns (record, []) or (None, problems).

    headers: a mapping with case-insensitive get() (http.client's message
    or a dict with the canonical names); body: bytes."""
    problems = []
    rec = {}
    if method != "POST":
        problems.append("method %s, expected POST" % method)
    split = urllib.parse.urlsplit(target)
    if split.path != "/ingest":
        problems.append("path %r, expected /ingest" % split.path)
    if split.fragment:
        problems.append("a fragment in the target")
    raw = split.query
    for c in "{}, ":
        if c in raw:
            problems.append("%r in the query string: values not percent-encoded" % c)
    try:
        pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True, strict_parsing=True,
                                       errors="strict")
    except (ValueError, UnicodeDecodeError) as e:
        pairs = []
        problems.append("query string does not parse: %s" % e)
    seen = {}
    for k, v in pairs:
        if k not in PARAMS:
            problems.append("unknown parameter %r" % k)
        elif k in seen:
            problems.append("parameter %r given twice" % k)
        else:
            seen[k] = v
    for k, want in PARAMS.items():
        if k not in seen:
            problems.append("parameter %r missing" % k)
            continue
        if want is not None and seen[k] != want:
            problems.append("%s=%r, expected %r" % (k, seen[k], want))
        rec[k] = seen[k]
    for k in ("from", "until", "sampleRate"):
        if k in seen:
            if UINT_RE.match(seen[k]):
                rec[k] = int(seen[k])
            else:
                problems.append("%s=%r is not an unsigned integer" % (k, seen[k]))
    if isinstance(rec.get("sampleRate"), int) and rec["sampleRate"] == 0:
        problems.append("sampleRate is 0")
    if isinstance(rec.get("from"), int) and isinstance(rec.get("until"), int) and rec["from"] > rec["until"]:
        problems.append("from %d is after until %d" % (rec["from"], rec["until"]))
    if "name" in seen:
        m = NAME_RE.match(seen["name"])
        if not m:
            problems.append("name %r is not APP or APP{key=value,...}" % seen["name"][:200])
        else:
            rec["app"] = m.group(1)
            rec["labels"] = {}
            if m.group(2):
                for lab in m.group(2).split(","):
                    lm = LABEL_RE.match(lab)
                    if not lm:
                        problems.append("label %r is not key=value of [A-Za-z0-9_.-]" % lab[:200])
                    elif lm.group(1) in rec["labels"]:
                        problems.append("label %r given twice" % lm.group(1))
                    else:
                        rec["labels"][lm.group(1)] = lm.group(2)
        rec.pop("name", None)
    ctype = headers.get("Content-Type")
    if ctype is None or ctype.split(";")[0].strip().lower() != "text/plain":
        problems.append("Content-Type %r, expected text/plain" % ctype)
    clen = headers.get("Content-Length")
    if clen is None or not UINT_RE.match(clen.strip()):
        problems.append("Content-Length %r" % clen)
    elif int(clen) != len(body):
        problems.append("Content-Length %s but %d bytes of body" % (clen, len(body)))
    try:
        text = body.decode("utf-8")
        stacks = parse_folded_body(text)
        rec["body"] = text
        rec["lines"] = len(stacks)
        rec["samples"] = sum(c for _, c in stacks)
    except UnicodeDecodeError as e:
        problems.append("body is not UTF-8: %s" % e)
    except ValueError as e:
        problems.append("body: %s" % e)
    if problems:
        return None, problems
    rec["time"] = time.time()
    return rec, []


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, out, down=None, invalid=None, port=0, quiet=False):
        self.out = out
        self.down = down if down is not None else out + ".down"
        self.invalid = invalid if invalid is not None else out + ".invalid"
        self.quiet = quiet
        self.lock = threading.Lock()
        self.counts = {"valid": 0, "invalid": 0, "down": 0}
        super().__init__(("127.0.0.1", port), Handler)

    def append(self, path, obj):
        with self.lock:
            with open(path, "a") as f:
                f.write(json.dumps(obj, sort_keys=True) + "\n")
                f.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pyroscope-receiver/1"

    def answer(self, code, text):
        data = text.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        srv = self.server
        clen = self.headers.get("Content-Length")
        body = b""
        if clen is not None and UINT_RE.match(clen.strip()) and int(clen) <= MAX_BODY:
            body = self.rfile.read(int(clen))
        elif clen is not None or self.headers.get("Transfer-Encoding"):
            # a body we cannot (or will not) read: answer and hang up
            self.close_connection = True
        if os.path.exists(srv.down):
            with srv.lock:
                srv.counts["down"] += 1
            self.answer(503, "down for the test\n")
            return
        rec, problems = validate(self.command, self.path, self.headers, body)
        if problems:
            with srv.lock:
                srv.counts["invalid"] += 1
            if not srv.quiet:
                sys.stderr.write("pyroscope_receiver: invalid request %s %s: %s\n" %
                                 (self.command, self.path[:300], "; ".join(problems)))
            srv.append(srv.invalid, {"method": self.command, "target": self.path, "problems": problems,
                                     "time": time.time()})
            self.answer(400, "\n".join(problems) + "\n")
            return
        with srv.lock:
            srv.counts["valid"] += 1
        srv.append(srv.out, rec)
        self.answer(200, "")

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = handle_any

    def log_message(self, fmt, *args):
        pass


def start(out, **kw):
    """A Receiver serving from a thread; returns (server, thread)."""
    srv = Receiver(out, **kw)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    return srv, t


# --------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------

GOOD_BODY = b"main;f (x.py:1);g (x.py:7) 12\nmain 3\n"


def good_query(name="my_app{host=web1,pid=4711}", **over):
    q = {"name": name, "from": "1700000000", "until": "1700000060", "sampleRate": "99",
         "spyName": "pybpfprof", "units": "samples", "aggregationType": "sum", "format": "folded"}
    q.update(over)
    return "&".join("%s=%s" % (k, urllib.parse.quote(v, safe="")) for k, v in q.items() if v is not None)


def post(port, target, body=GOOD_BODY, method="POST", ctype="text/plain"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Length": str(len(body))}
    if ctype:
        headers["Content-Type"] = ctype
    c.request(method, target, body=body, headers=headers)
    r = c.getresponse()
    text = r.read().decode("utf-8", "replace")
    c.close()
    return r.status, text


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def selftest():
    """Posts good and bad requests to an in-process instance ([] = pass)."""
    problems = []

    def expect(cond, what):
        if not cond:
            problems.append("selftest: " + what)

    bad = [
        ("GET", "GET", "/ingest?" + good_query(), GOOD_BODY, "text/plain"),
        ("wrong path", "POST", "/ingestx?" + good_query(), GOOD_BODY, "text/plain"),
        ("from missing", "POST", "/ingest?" + good_query(**{"from": None}), GOOD_BODY, "text/plain"),
        ("until not a number", "POST", "/ingest?" + good_query(until="12x"), GOOD_BODY, "text/plain"),
        ("from after until", "POST", "/ingest?" + good_query(**{"from": "1700000061"}), GOOD_BODY, "text/plain"),
        ("sampleRate 0", "POST", "/ingest?" + good_query(sampleRate="0"), GOOD_BODY, "text/plain"),
        ("no app", "POST", "/ingest?" + good_query(name="{a=b}"), GOOD_BODY, "text/plain"),
        ("label not k=v", "POST", "/ingest?" + good_query(name="app{a}"), GOOD_BODY, "text/plain"),
        ("label with a space", "POST", "/ingest?" + good_query(name="app{a b=c}"), GOOD_BODY, "text/plain"),
        ("duplicate label", "POST", "/ingest?" + good_query(name="app{a=b,a=c}"), GOOD_BODY, "text/plain"),
        ("name not encoded", "POST", "/ingest?" + good_query(name="x").replace("name=x", "name=app{a=b}"),
         GOOD_BODY, "text/plain"),
        ("format pprof", "POST", "/ingest?" + good_query(format="pprof"), GOOD_BODY, "text/plain"),
        ("units", "POST", "/ingest?" + good_query(units="objects"), GOOD_BODY, "text/plain"),
        ("parameter twice", "POST", "/ingest?" + good_query() + "&from=1", GOOD_BODY, "text/plain"),
        ("unknown parameter", "POST", "/ingest?" + good_query() + "&foo=1", GOOD_BODY, "text/plain"),
        ("content type", "POST", "/ingest?" + good_query(), GOOD_BODY, "application/json"),
        ("no content type", "POST", "/ingest?" + good_query(), GOOD_BODY, None),
        ("count not a number", "POST", "/ingest?" + good_query(), b"a;b;c x\n", "text/plain"),
        ("count 0", "POST", "/ingest?" + good_query(), b"a;b 0\n", "text/plain"),
        ("empty frame", "POST", "/ingest?" + good_query(), b"a;;b 1\n", "text/plain"),
        ("no count", "POST", "/ingest?" + good_query(), b"a;b\n", "text/plain"),
        ("not UTF-8", "POST", "/ingest?" + good_query(), b"a;\xff 1\n", "text/plain"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "got.jsonl")
        srv, t = start(out, quiet=True)
        port = srv.server_address[1]
        try:
            st, text = post(port, "/ingest?" + good_query())
            expect(st == 200, "a good request answered %d %r" % (st, text))
            st, _ = post(port, "/ingest?" + good_query(name="plain.app-1"), body=b"")
            expect(st == 200, "a good request without labels, empty body answered %d" % st)
            for what, method, target, body, ctype in bad:
                st, text = post(port, target, body=body, method=method, ctype=ctype)
                expect(st == 400, "%s: answered %d, expected 400" % (what, st))
            open(srv.down, "w").close()
            st, _ = post(port, "/ingest?" + good_query())
            expect(st == 503, "while down: answered %d, expected 503" % st)
            os.unlink(srv.down)
            st, _ = post(port, "/ingest?" + good_query(name="my_app{host=web2}", sampleRate="100"))
            expect(st == 200, "after recovery: answered %d, expected 200" % st)
        finally:
            srv.shutdown()
            srv.server_close()
            t.join()
        got = read_jsonl(out)
        expect(len(got) == 3, "%d requests recorded, expected 3" % len(got))
        if len(got) == 3:
            r = got[0]
            expect(r["app"] == "my_app" and r["labels"] == {"host": "web1", "pid": "4711"},
                   "app/labels %r %r" % (r.get("app"), r.get("labels")))
            expect(r["from"] == 1700000000 and r["until"] == 1700000060 and r["sampleRate"] == 99,
                   "from/until/sampleRate %r" % ((r.get("from"), r.get("until"), r.get("sampleRate")),))
            expect(r["samples"] == 15 and r["lines"] == 2, "samples %r lines %r" % (r["samples"], r["lines"]))
            expect(r["body"] == GOOD_BODY.decode(), "body %r" % r["body"])
            expect(got[1]["app"] == "plain.app-1" and got[1]["labels"] == {} and got[1]["samples"] == 0,
                   "the request without labels recorded as %r" % got[1])
            expect(got[2]["labels"] == {"host": "web2"} and got[2]["sampleRate"] == 100,
                   "the request after recovery recorded as %r" % got[2])
        inv = read_jsonl(srv.invalid)
        expect(len(inv) == len(bad), "%d invalid requests logged, expected %d" % (len(inv), len(bad)))
        expect(srv.counts == {"valid": 3, "invalid": len(bad), "down": 1}, "counts %r" % srv.counts)
    # the checks on their own, without a socket
    rec, probs = validate("POST", "/ingest?" + good_query(), {"Content-Type": "text/plain",
                                                             "Content-Length": str(len(GOOD_BODY))}, GOOD_BODY)
    expect(rec is not None and not probs, "validate() refused a good request: %r" % probs)
    rec, probs = validate("POST", "/ingest?" + good_query(), {"Content-Type": "text/plain",
                                                             "Content-Length": "3"}, GOOD_BODY)
    expect(rec is None and any("Content-Length" in p for p in probs), "a wrong Content-Length passed")
    return problems


def main(argv):
    if argv[1:] == ["--selftest"]:
        problems = selftest()
        for p in problems:
            sys.stderr.write(p + "\n")
        print("pyroscope_receiver selftest: %s" % ("FAIL (%d problems)" % len(problems) if problems else "ok"))
        return 1 if problems else 0
    ap = argparse.ArgumentParser(description="A Pyroscope ingest stand-in for the fleet tests.")
    ap.add_argument("out", help="JSON lines file the valid requests are appended to")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--down", help="while this file exists, answer 503 (default OUT.down)")
    ap.add_argument("--invalid", help="JSON lines file of invalid requests (default OUT.invalid)")
    args = ap.parse_args(argv[1:])
    srv = Receiver(args.out, down=args.down, invalid=args.invalid, port=args.port)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print("listening on 127.0.0.1:%d" % port, flush=True)

    def stop(sig, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        srv.serve_forever(poll_interval=0.1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
