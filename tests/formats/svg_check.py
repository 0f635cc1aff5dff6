#!/usr/bin/python3
"""Checks of pybpfprof's SVG flame graphs (standard library only).

    check_svg(svg_path, stacks) -> [problem, ...]
        The SVG against the folded stacks of the same samples: well-formed
        XML, total samples, every frame's width against its samples, the
        frame tree (by geometry) against the folded stacks, the script,
        no external references.
    render_check(svg_path, png_path, timeout=60) -> [problem, ...]
        Renders it in headless Chromium to png_path and checks the picture
        is not blank (share of non-white pixels, number of colours) and that
        the script raised no error.
    interaction_check(svg_path, timeout=60) -> [problem, ...]
        Drives the script in headless Chromium: zoom into a frame, reset,
        search; checks what the page reports back.
    parse_folded(path) -> [(frames_root_first, count), ...]
    read_png(path) -> (width, height, rows of (r, g, b) tuples)
    selftest(svg_path=None, folded_path=None) -> [problem, ...]
        check_svg must pass a good sample (default: tests/data/svg_sample.*,
        written by tests/unit/test_svg.c; after a change to the writer,
        regenerate it with SVG_SAMPLE_DIR=tests/data build/tests/test_svg)
        and flag each of a set of mutations of it.

An empty list means the check passed.

    svg_check.py SVG FOLDED [--png PNG] [--interact]
    svg_check.py --selftest [SVG FOLDED]

The format read here is the one src/out_svg.h describes: the root <svg>
carries data-total-samples, data-width (width of the frame area) and
data-x0 (its left edge); each drawn frame is <g class="f" data-kind=...>
with <title>NAME (N samples, P%)</title>, <rect> and <text>. The root is
at the bottom (data-root="bottom"): a larger y is nearer the root. Frames
with fewer samples than the root's data-min-samples (0.1% of all, more in
a profile that would otherwise draw thousands of frames) are left out,
their samples still counted in their parent's width.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

SVG_NS = "{http://www.w3.org/2000/svg}"
KINDS = {"python", "native", "interp", "kernel", "marker", "process", "thread"}
TITLE_RE = re.compile(r"^(.*) \((\d+) samples, ([0-9.]+)%\)$", re.S)
CHROMIUM = "/usr/bin/chromium"
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data")

# width/data-width may differ from samples/total by this much: the writer
# prints widths to 1/1000 of a unit on a canvas of about a thousand units.
RATIO_TOL = 1e-5
# Sample-count mismatches reported one by one, at most.
MAX_MISMATCHES = 10
# Geometric slack when deciding which frame lies inside which.
XY_EPS = 0.01


def norm_name(s):
    """A frame name as both formats can show it: the folded format turns
    ';' into ':' and line breaks into spaces; XML cannot hold other
    control characters, which the SVG shows as U+FFFD."""
    out = []
    for c in s:
        if c == ";":
            c = ":"
        elif c in "\n\r":
            c = " "
        elif c < " " and c != "\t":
            c = "\ufffd"
        out.append(c)
    return "".join(out)


def parse_folded(path):
    """[(frames root first, count)] of a folded file."""
    stacks = []
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line.strip():
                continue
            stack, _, count = line.rpartition(" ")
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _attr(el, name):
    v = el.get(name)
    return v if v is not None else el.get(SVG_NS + name)


def _external_refs(root):
    problems = []
    for el in root.iter():
        for k, v in el.attrib.items():
            local = k.rsplit("}", 1)[-1]
            if local not in ("href", "src"):
                continue
            if v.strip().startswith("#"):
                continue
            problems.append("external reference: <%s %s=%r>" % (el.tag.replace(SVG_NS, ""), local, v))
        if el.tag in (SVG_NS + "style", SVG_NS + "script") and el.text:
            text = el.text
            for m in re.finditer(r"https?://[^\s\"')]*|@import|url\(\s*['\"]?(?!#)", text):
                if m.group(0).startswith("http://www.w3.org/"):
                    continue  # namespace names, not fetched
                problems.append("external reference in <%s>: %r" % (el.tag.replace(SVG_NS, ""), m.group(0)))
    return problems


def _frames(root, problems):
    """The frame elements as dicts; problems for malformed ones."""
    frames = []
    for g in root.iter(SVG_NS + "g"):
        if "f" not in (g.get("class") or "").split():
            continue
        where = "frame #%d" % len(frames)
        title, rect, text = g.find(SVG_NS + "title"), g.find(SVG_NS + "rect"), g.find(SVG_NS + "text")
        if title is None or rect is None or text is None:
            problems.append("%s: needs <title>, <rect> and <text>" % where)
            continue
        m = TITLE_RE.match(title.text or "")
        if not m:
            problems.append("%s: title %r is not 'NAME (N samples, P%%)'" % (where, title.text))
            continue
        kind = g.get("data-kind")
        if kind not in KINDS:
            problems.append("%s (%s): data-kind %r is not one of %s" % (where, m.group(1), kind, sorted(KINDS)))
        try:
            x, y, w = float(rect.get("x")), float(rect.get("y")), float(rect.get("width"))
        except (TypeError, ValueError):
            problems.append("%s (%s): rect without numeric x, y, width" % (where, m.group(1)))
            continue
        frames.append({"name": m.group(1), "n": int(m.group(2)), "pct": float(m.group(3)), "kind": kind,
                       "x": x, "y": y, "w": w, "i": len(frames)})
    return frames


def _tree(frames, root_at_bottom, problems):
    """Sets depth and parent of every frame from the geometry: one row per
    depth, a child inside its parent's x range."""
    ys = sorted({f["y"] for f in frames}, reverse=root_at_bottom)
    depth_of = {y: d for d, y in enumerate(ys)}
    rows = [[] for _ in ys]
    for f in frames:
        f["depth"] = depth_of[f["y"]]
        rows[f["depth"]].append(f)
    for row in rows:
        row.sort(key=lambda f: f["x"])
        for a, b in zip(row, row[1:]):
            if a["x"] + a["w"] > b["x"] + XY_EPS:
                problems.append("frames overlap at depth %d: %r and %r" % (a["depth"], a["name"], b["name"]))
    for f in frames:
        f["parent"] = None
        if f["depth"] == 0:
            continue
        for p in rows[f["depth"] - 1]:
            if p["x"] - XY_EPS <= f["x"] and f["x"] + f["w"] <= p["x"] + p["w"] + XY_EPS:
                f["parent"] = p
                break
        if f["parent"] is None:
            problems.append("frame %r (depth %d, x %.3f) lies in no frame of the row below it"
                            % (f["name"], f["depth"], f["x"]))
    kids = {}
    for f in frames:
        if f["parent"] is not None:
            kids.setdefault(f["parent"]["i"], []).append(f)
    for f in frames:
        s = sum(k["n"] for k in kids.get(f["i"], []))
        if s > f["n"]:
            problems.append("children of %r have %d samples, more than its %d" % (f["name"], s, f["n"]))


def _path(f):
    names = []
    while f is not None:
        names.append(norm_name(f["name"]))
        f = f["parent"]
    return tuple(reversed(names))


def check_svg(svg_path, stacks):
    """Problems of the SVG at svg_path given the folded stacks (a list of
    (frames root first, count)) of the same samples; [] if none."""
    problems = []
    try:
        root = ET.parse(svg_path).getroot()
    except (ET.ParseError, OSError) as e:
        return ["not well-formed XML: %s" % e]
    if root.tag != SVG_NS + "svg":
        return ["root element is %r, not an SVG <svg>" % root.tag]
    try:
        total = int(root.get("data-total-samples"))
        width = float(root.get("data-width"))
        x0 = float(root.get("data-x0"))
    except (TypeError, ValueError):
        return ["<svg> needs numeric data-total-samples, data-width and data-x0"]
    want_total = sum(c for _, c in stacks)
    if total != want_total:
        problems.append("data-total-samples is %d, the folded stacks have %d" % (total, want_total))
    scripts = [s for s in root.iter(SVG_NS + "script") if (s.text or "").strip()]
    if not scripts:
        problems.append("no inline <script>: the graph is not interactive")
    problems += _external_refs(root)

    frames = _frames(root, problems)
    if not frames:
        if total:
            problems.append("no frame elements (<g class=\"f\">) for %d samples" % total)
        return problems
    if total <= 0 or width <= 0:
        return problems + ["data-total-samples and data-width must be positive with frames drawn"]
    min_samples = int(root.get("data-min-samples") or 1)
    for f in frames:
        want = f["n"] / total
        if f["n"] < min_samples:
            problems.append("frame %r: %d samples, under data-min-samples %d" % (f["name"], f["n"], min_samples))
        if abs(f["w"] / width - want) > RATIO_TOL:
            problems.append("frame %r: width %.3f of %.3f is %.6f of the canvas, its %d samples %.6f of %d"
                            % (f["name"], f["w"], width, f["w"] / width, f["n"], want, total))
        if abs(f["pct"] - 100.0 * want) > 0.0051:
            problems.append("frame %r: title says %.2f%%, %d of %d samples is %.4f%%"
                            % (f["name"], f["pct"], f["n"], total, 100.0 * want))
        if f["x"] < x0 - XY_EPS or f["x"] + f["w"] > x0 + width + XY_EPS:
            problems.append("frame %r: x %.3f..%.3f outside the frame area %.3f..%.3f"
                            % (f["name"], f["x"], f["x"] + f["w"], x0, x0 + width))
    _tree(frames, root.get("data-root", "bottom") != "top", problems)

    # Folded side: the samples under every prefix of every stack.
    prefix = {}
    for names, count in stacks:
        p = ()
        for name in names:
            p += (norm_name(name),)
            prefix[p] = prefix.get(p, 0) + count
    # SVG side: frames with one name under one parent add up (the writer
    # merges by frame, and two frames may share a name).
    drawn, merged = {}, {}
    for f in frames:
        p = _path(f)
        drawn[p] = drawn.get(p, 0) + f["n"]
        merged[p] = merged.get(p, 0) + 1

    def shared(p):
        return any(merged.get(p[:k], 0) > 1 for k in range(1, len(p) + 1))

    mismatches = []
    for p in sorted(drawn):
        want = prefix.get(p, 0)
        if drawn[p] == want:
            continue
        # A same-named frame too narrow to draw (under min_samples) is
        # missing from the SVG side only; under a name shared along the
        # path, any number of them may be.
        if drawn[p] < want and (want - drawn[p] < min_samples or shared(p)):
            continue
        mismatches.append("frame %s: %d samples in the SVG, %d in the folded stacks"
                          % (" > ".join(p), drawn[p], want))
    # Samples from another run differ everywhere: the first few say enough.
    problems += mismatches[:MAX_MISMATCHES]
    if len(mismatches) > MAX_MISMATCHES:
        problems.append("... and %d more frames whose samples differ" % (len(mismatches) - MAX_MISMATCHES))
    # Frames wide enough must be there. Twice the cut: a name split over
    # two frames each under it is not drawn at all.
    must = 2 * min_samples
    for p, count in sorted(prefix.items()):
        # one report per missing subtree: its top, under a drawn parent
        if count >= must and p not in drawn and (len(p) == 1 or (p[:-1] in drawn and not shared(p[:-1]))):
            problems.append("frame %s (%d samples, %.1f%%) is not drawn"
                            % (" > ".join(p), count, 100.0 * count / total))
    return problems


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path):
    """(width, height, rows): rows of (r, g, b) tuples of an 8-bit,
    non-interlaced RGB or RGBA PNG. Raises ValueError for anything else."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    if hdr is None:
        raise ValueError("PNG without IHDR")
    w, h, depth, colour, _, _, interlace = hdr
    if depth != 8 or colour not in (2, 6) or interlace != 0:
        raise ValueError("PNG is %d-bit colour type %d interlace %d; only 8-bit RGB/RGBA, not interlaced"
                         % (depth, colour, interlace))
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    if len(raw) < h * (stride + 1):
        raise ValueError("PNG image data too short")
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
        elif ftype != 0:
            raise ValueError("PNG row %d has filter type %d" % (y, ftype))
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def _chromium_cmd(profile_dir, extra, url):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=" + profile_dir] + extra + [url]


def _run_chromium(extra, url, timeout):
    """(returncode, stdout, stderr) of one headless Chromium run in a fresh
    profile, or a problem string."""
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is missing: install the Debian package chromium (make deps does)" % CHROMIUM
    profile_dir = tempfile.mkdtemp(prefix="svgcheck-chromium-")
    try:
        p = subprocess.run(_chromium_cmd(profile_dir, extra, url), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "chromium did not finish within %d s" % timeout
    finally:
        shutil.rmtree(profile_dir, ignore_errors=True)


def _script_errors(stderr):
    return [line.strip() for line in stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]


def render_check(svg_path, png_path, timeout=60, min_ink=0.05, min_colours=8):
    """Renders svg_path with headless Chromium (1200x800) into png_path and
    returns problems: Chromium missing or failing, a script error, or a
    picture with under min_ink of non-white pixels or fewer than
    min_colours distinct colours."""
    svg_path, png_path = os.path.abspath(svg_path), os.path.abspath(png_path)
    if os.path.exists(png_path):
        os.unlink(png_path)
    r = _run_chromium(["--enable-logging=stderr", "--v=0", "--screenshot=" + png_path, "--window-size=1200,800"],
                      "file://" + svg_path, timeout)
    if isinstance(r, str):
        return [r]
    rc, _, err = r
    problems = ["script error: " + e for e in _script_errors(err)]
    if not os.path.exists(png_path):
        tail = "; ".join(err.strip().splitlines()[-3:])
        return problems + ["chromium (exit %d) wrote no screenshot: %s" % (rc, tail)]
    try:
        w, h, rows = read_png(png_path)
    except (ValueError, zlib.error, struct.error) as e:
        return problems + ["screenshot %s: %s" % (png_path, e)]
    ink, colours = 0, set()
    for row in rows:
        for px in row:
            if min(px) < 245:
                ink += 1
            colours.add(px)
    share = ink / float(w * h) if w * h else 0.0
    if share < min_ink:
        problems.append("screenshot is nearly blank: %.1f%% non-white pixels, want %.0f%%"
                        % (100 * share, 100 * min_ink))
    if len(colours) < min_colours:
        problems.append("screenshot has %d colours, want at least %d" % (len(colours), min_colours))
    return problems


# A page that loads the SVG in a frame, drives window.flamegraph (the
# script's console/test hook) and leaves its findings in <pre id="out">
# for --dump-dom. It runs in the frame's load handler, which ends before
# the page's own load event, after which Chromium dumps the DOM.
_HARNESS = """<!DOCTYPE html>
<html><body><pre id="out">not run</pre>
<iframe id="fr" width="1200" height="800"></iframe>
<script>
var fr = document.getElementById("fr");
fr.onload = function () {
  var out = {};
  try {
    var w = fr.contentWindow, d = fr.contentDocument, fg = w.flamegraph;
    var W = +d.documentElement.getAttribute("data-width");
    var X0 = +d.documentElement.getAttribute("data-x0");
    var shown = function () {
      return fg.frames.filter(function (f) { return f.g.style.display !== "none"; }).length;
    };
    out.frames = fg.frames.length;
    out.shown = shown();
    /* zoom into the widest frame narrower than the root that has a shown
       frame outside its span (which the zoom must hide) */
    var x = function (f) { return +f.r.getAttribute("x"); };
    var outside = function (f, g) {
      return x(g) + +g.r.getAttribute("width") <= x(f) + 0.01 || x(g) >= x(f) + f.w - 0.01;
    };
    var z = -1;
    fg.frames.forEach(function (f, i) {
      if (f.w < W - 0.5 && (z < 0 || f.w > fg.frames[z].w) &&
          fg.frames.some(function (g) { return g.g.style.display !== "none" && outside(f, g); }))
        z = i;
    });
    out.zoom_index = z;
    if (z >= 0) {
      var f = fg.frames[z];
      /* what a click does */
      f.r.dispatchEvent(new w.MouseEvent("click", {bubbles: true}));
      out.zoom_name = f.name;
      out.zoom_x = +f.r.getAttribute("x");
      out.zoom_w = +f.r.getAttribute("width");
      out.zoom_shown = shown();
      out.reset_visible = !d.getElementById("reset").classList.contains("hide");
      d.getElementById("reset").dispatchEvent(new w.MouseEvent("click", {bubbles: true}));
      out.after_reset_shown = shown();
      out.after_reset_w = +f.r.getAttribute("width");
      out.orig_w = f.w;
      out.search_term = f.name;
      out.search_n = fg.search(f.name);
      out.search_hits = d.querySelectorAll("g.f.hit").length;
      out.matched_text = d.getElementById("matched").textContent;
      out.regex_n = fg.search("/^" + f.name.charAt(0).replace(/[.*+?^${}()|[\\]\\\\\\/]/g, "\\\\$&") + "/");
      fg.search("");
      out.cleared_hits = d.querySelectorAll("g.f.hit").length;
    }
    out.W = W;
    out.X0 = X0;
  } catch (e) {
    out.error = String(e && e.stack || e);
  }
  document.getElementById("out").textContent = "RESULT " + JSON.stringify(out);
};
fr.src = %s;
</script></body></html>
"""


def interaction_check(svg_path, timeout=60):
    """Problems found driving the graph's script in headless Chromium:
    a click zooms a frame to the full width and hides frames outside it,
    Reset zoom restores the layout, search() highlights and counts."""
    svg_path = os.path.abspath(svg_path)
    work = tempfile.mkdtemp(prefix="svgcheck-page-")
    try:
        page = os.path.join(work, "harness.html")
        with open(page, "w") as f:
            f.write(_HARNESS.replace("%s", json.dumps("file://" + svg_path)))
        r = _run_chromium(["--allow-file-access-from-files", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=5000", "--dump-dom"], "file://" + page, timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if isinstance(r, str):
        return [r]
    _, out, err = r
    m = re.search(r"RESULT (\{.*\})", out)
    if not m:
        return ["the harness page reported nothing; chromium said: %s"
                % "; ".join(err.strip().splitlines()[-3:])]
    res = json.loads(m.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
                     .replace("&amp;", "&"))
    if os.environ.get("SVG_CHECK_VERBOSE"):
        print("# interaction: %s" % json.dumps(res, sort_keys=True))
    problems = ["script error: " + e for e in _script_errors(err)]
    if "error" in res:
        return problems + ["harness: " + res["error"]]
    if res.get("zoom_index", -1) < 0:
        return problems + ["no frame narrower than the root to zoom into"]
    if abs(res["zoom_x"] - res["X0"]) > XY_EPS or abs(res["zoom_w"] - res["W"]) > XY_EPS:
        problems.append("zoomed frame %r spans %.3f+%.3f, not the full width %.3f+%.3f"
                        % (res["zoom_name"], res["zoom_x"], res["zoom_w"], res["X0"], res["W"]))
    if not res["zoom_shown"] < res["shown"]:
        problems.append("zoom hid no frame (%d shown of %d)" % (res["zoom_shown"], res["shown"]))
    if not res["reset_visible"]:
        problems.append("Reset zoom is not shown while zoomed")
    if res["after_reset_shown"] != res["shown"] or abs(res["after_reset_w"] - res["orig_w"]) > XY_EPS:
        problems.append("Reset zoom did not restore the graph")
    if not res["search_n"] or res["search_n"] <= 0 or res["search_hits"] < 1:
        problems.append("search %r matched nothing" % res["search_term"])
    if "Matched" not in res["matched_text"] or "%" not in res["matched_text"]:
        problems.append("search shows no matched share: %r" % res["matched_text"])
    if not res["regex_n"] or res["regex_n"] <= 0:
        problems.append("regex search matched nothing")
    if res["cleared_hits"]:
        problems.append("clearing the search left %d frames highlighted" % res["cleared_hits"])
    return problems


def _mutations(svg):
    """(description, mutated text) pairs, each a fault check_svg must catch."""
    lines = svg.split("\n")
    fidx = [i for i, l in enumerate(lines) if l.startswith('<g class="f"')]

    def count(line):
        return int(TITLE_RE.match(re.search(r"<title>(.*?)</title>", line, re.S).group(1)).group(2))

    def with_line(i, new):
        return "\n".join(lines[:i] + [new] + lines[i + 1:])

    by_count = sorted(fidx, key=lambda i: -count(lines[i]))
    root, big = by_count[0], by_count[1]  # the root and the widest frame above it
    out = []

    def scale_width(line, k):
        return re.sub(r'(<rect [^>]*width=")([0-9.]+)"', lambda m: '%s%.3f"' % (m.group(1), float(m.group(2)) * k),
                      line, count=1)

    out.append(("a frame's width changed", with_line(big, scale_width(lines[big], 0.9))))
    out.append(("a frame's sample count changed",
                with_line(big, re.sub(r"\((\d+) samples", lambda m: "(%d samples" % (int(m.group(1)) + 1),
                                      lines[big], count=1))))
    out.append(("a frame dropped", with_line(big, "")))
    cut = int(re.search(r'data-min-samples="(\d+)"', svg).group(1))
    small = [i for i in by_count if count(lines[i]) >= 2 * cut][-1]
    out.append(("the narrowest frame that must be drawn dropped", with_line(small, "")))
    out.append(("a frame's width off by 0.5%", with_line(big, scale_width(lines[big], 1.005))))
    out.append(("the root frame dropped", with_line(root, "")))
    out.append(("the total changed", re.sub(r'data-total-samples="(\d+)"',
                                            lambda m: 'data-total-samples="%d"' % (int(m.group(1)) + 7), svg,
                                            count=1)))
    out.append(("an external image", svg.replace("</svg>", '<image href="https://example.com/x.png" x="0" y="0" '
                                                          'width="1" height="1"/></svg>')))
    out.append(("a protocol-relative script src", svg.replace("<script ", '<script src="//cdn.example.com/x.js" ', 1)))
    out.append(("a stylesheet import", svg.replace("<style><![CDATA[", '<style><![CDATA[@import "http://x.org/a.css";',
                                                   1)))
    out.append(("the script removed", re.sub(r"<script[^>]*>.*?</script>", "", svg, flags=re.S)))
    out.append(("a raw '<' in a name", with_line(big, lines[big].replace("<title>", "<title>a<b", 1))))
    out.append(("a frame moved off its parent",
                with_line(small, re.sub(r'(<rect x=")([0-9.]+)"', lambda m: '%s%.3f"' % (m.group(1),
                                                                                         float(m.group(2)) - 3.5),
                                        lines[small], count=1))))
    out.append(("an unknown kind", with_line(big, re.sub(r'data-kind="\w+"', 'data-kind="blue"', lines[big],
                                                         count=1))))
    out.append(("a frame renamed", with_line(big, lines[big].replace("<title>", "<title>x", 1))))
    return out


def selftest(svg_path=None, folded_path=None):
    """[] if check_svg passes the good sample and flags every mutation."""
    svg_path = svg_path or os.path.join(DATA, "svg_sample.svg")
    folded_path = folded_path or os.path.join(DATA, "svg_sample.folded")
    stacks = parse_folded(folded_path)
    problems = ["good sample %s: %s" % (svg_path, p) for p in check_svg(svg_path, stacks)]
    with open(svg_path, encoding="utf-8") as f:
        good = f.read()
    work = tempfile.mkdtemp(prefix="svgcheck-self-")
    try:
        for what, text in _mutations(good):
            if text == good:
                problems.append("mutation did not apply: %s" % what)
                continue
            path = os.path.join(work, "mutated.svg")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            found = check_svg(path, stacks)
            if not found:
                problems.append("check_svg missed: %s" % what)
            elif os.environ.get("SVG_CHECK_VERBOSE"):
                print("# %s -> %s" % (what, found[0]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return problems


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description="Check a pybpfprof SVG flame graph against folded stacks.")
    ap.add_argument("svg", nargs="?")
    ap.add_argument("folded", nargs="?")
    ap.add_argument("--png", help="also render with headless Chromium into PNG and check the picture")
    ap.add_argument("--interact", action="store_true", help="also drive zoom and search in headless Chromium")
    ap.add_argument("--selftest", action="store_true",
                    help="check_svg on a good sample (default tests/data/svg_sample.*) and mutations of it")
    a = ap.parse_args(argv)
    if a.selftest:
        problems = selftest(a.svg, a.folded)
    else:
        if not a.svg or not a.folded:
            ap.error("SVG and FOLDED are required")
        problems = check_svg(a.svg, parse_folded(a.folded))
        if a.png:
            problems += render_check(a.svg, a.png)
        if a.interact:
            problems += interaction_check(a.svg)
    for p in problems:
        print(p)
    print("%s: %s" % ("selftest" if a.selftest else a.svg, "%d problems" % len(problems) if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
