#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/NAME/.

    tests/fuzz/make_corpus.py [--cc CC]

Run by hand when an input format changes; the output is committed. It needs
this machine's interpreters (the pyenv builds and /usr/bin/python3.11; a
missing one is skipped with a note), cc, and strip/objcopy for the ELF seeds.

  linetable    real line tables of every interpreter, each with its
               co_firstlineno and a position in the middle of its code
  pycode       a code object per layout, laid out as fuzz_pycode.c's fake
               address space has it: its name, file name and line table
               taken from real code objects of that version, the strings in
               every PyUnicode shape (compact ASCII, compact kind 1/2/4, not
               compact) or 2.x bytes; 3.13/3.14 through _Py_DebugOffsets
  debugoffsets _PyRuntime's first bytes of the live 3.13.0, the 3.14 image of
               tests/unit/test_debugoffsets.c, and a few refused ones
  record       ring-buffer records built by hand (struct pp_sample)
  elf          tiny shared objects (64- and 32-bit) with the symbols
               pyruntime.c looks for, a real small library, and the head of
               /usr/bin/python3.11

The layouts come from the C code itself: a small program linked with
src/pylayout.c and src/pydebugoffsets.c prints them.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(REPO, "tests", "fuzz", "corpus")
PYENV = os.path.expanduser("~/.pyenv/versions")
INTERPRETERS = [
    ("2.7", PYENV + "/2.7.18/bin/python2.7"),
    ("3.6", PYENV + "/3.6.15/bin/python3.6"),
    ("3.7", PYENV + "/3.7.16/bin/python3.7"),
    ("3.8", PYENV + "/3.8.18/bin/python3.8"),
    ("3.9", PYENV + "/3.9.18/bin/python3.9"),
    ("3.10", PYENV + "/3.10.13/bin/python3.10"),
    ("3.11", "/usr/bin/python3.11"),
    ("3.11", PYENV + "/3.11.7/bin/python3.11"),
    ("3.12", PYENV + "/3.12.1/bin/python3.12"),
    ("3.13", PYENV + "/3.13.0/bin/python3.13"),
]
PY313 = PYENV + "/3.13.0/bin/python3.13"

# Must match tests/fuzz/fuzz_pycode.c.
SEP = b"\xf0REG"
CODE_TYPE = 0x00000000C0DE7E00
VERSIONS = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12"]  # the order of versions[]
DEBUG_CHOICE = len(VERSIONS)


def region(k, off=0):
    return ((k + 1) << 32) + off


# Runs in each interpreter (2.7 too): a few code objects of a stdlib module
# and of a snippet with non-ASCII names, as JSON lines.
DUMP = r'''
import json, os, sys, types
SNIPPET = u"""
def caf\u00e9(x):
    y = x + 1
    return y * 2

class \u540d\u524d:
    def m(self, a,
          b):
        if a:
            return b
        return [i for i in range(a)]
"""
def objs(co):
    yield co
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            for x in objs(c):
                yield x
def table(co):
    if sys.version_info >= (3, 10):
        return co.co_linetable
    return co.co_lnotab
def text(s):
    if isinstance(s, bytes):
        s = s.decode("utf-8")
    return s
out = []
src = open(os.path.join(os.path.dirname(os.__file__), "posixpath.py")).read()
tops = [compile(src, os.path.join(os.path.dirname(os.__file__), "posixpath.py"), "exec")]
if sys.version_info >= (3,):
    tops.append(compile(SNIPPET, u"/srv/app/\U0001d518\u540d/caf\u00e9.py", "exec"))
else:  # 2.x: ASCII identifiers, a UTF-8 file name
    snippet = SNIPPET.replace(u"caf\u00e9", u"cafe").replace(u"\u540d\u524d", u"Name")
    tops.append(compile(snippet.encode("ascii"), "/srv/app/caf\xc3\xa9.py", "exec"))
for top in tops:
    n = 0
    for co in objs(top):
        t = bytearray(table(co))
        if not 8 <= len(t) <= 400 and co is not top:
            continue
        out.append({"name": text(co.co_name), "qualname": text(getattr(co, "co_qualname", co.co_name)),
                    "filename": text(co.co_filename), "first": co.co_firstlineno,
                    "table": "".join("%02x" % b for b in t), "code": len(co.co_code)})
        n += 1
        if n >= 4:
            break
for o in out:
    print(json.dumps(o))
'''

LAYOUT_C = r'''
#include "pydebugoffsets.h"
#include "pylayout.h"
#include <stdio.h>

static void show(const char *key, const struct pp_layout *l)
{
	printf("{\"key\": \"%s\", \"code_size\": %d, \"co_filename\": %d, \"co_name\": %d, \"co_qualname\": %d, "
	       "\"co_linetable\": %d, \"co_firstlineno\": %d, \"co_code_adaptive\": %d, \"code_tag\": %d, "
	       "\"str_kind\": %d, \"str_length\": %d, \"str_state\": %d, \"str_ascii_size\": %d, "
	       "\"str_compact_size\": %d, \"bytes_size\": %d, \"bytes_data\": %d, \"instr_kind\": %d}\n",
	       key, l->code_size, l->co_filename, l->co_name, l->co_qualname, l->co_linetable, l->co_firstlineno,
	       l->co_code_adaptive, l->bpf.code_tag, l->str_kind, l->str_length, l->str_state, l->str_ascii_size,
	       l->str_compact_size, l->bytes_size, l->bytes_data, l->instr_kind);
}

int main(int argc, char **argv)
{
	static const unsigned v[] = {0x0207, 0x0306, 0x0307, 0x0308, 0x0309, 0x030a, 0x030b, 0x030c};
	char key[16];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(key, sizeof(key), "%u.%u", v[i] >> 8, v[i] & 0xff);
		show(key, pylayout_for_version(v[i] << 16));
	}
	for (int i = 1; i < argc; i++) {
		unsigned char img[PP_DEBUGOFFSETS_MAX] = {0};
		struct pp_layout l;
		char why[200];
		FILE *f = fopen(argv[i], "rb");

		if (!f || !fread(img, 1, sizeof(img), f))
			return 1;
		fclose(f);
		if (pydebugoffsets_layout(img, sizeof(img), &l, why, sizeof(why))) {
			fprintf(stderr, "%s: %s\n", argv[i], why);
			return 1;
		}
		show(argv[i], &l);
	}
	return 0;
}
'''


def write(name, fname, data):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def dump_interpreters():
    seen = {}
    for ver, path in INTERPRETERS:
        if not os.access(path, os.X_OK):
            print("make_corpus: no %s, skipped" % path, file=sys.stderr)
            continue
        tag = ver if ver not in seen else ver + "-deb"
        out = subprocess.run([path, "-c", DUMP], check=True, capture_output=True).stdout.decode()
        seen[tag] = (ver, [json.loads(line) for line in out.splitlines()])
    return seen


def vtuple(ver):
    return tuple(int(x) for x in ver.split("."))


def lt_position(ver, obj):
    """A position in the middle of the code, in what the decoder takes."""
    if vtuple(ver) >= (3, 11):
        return obj["code"] // 4  # code units
    return (obj["code"] // 2) & ~1  # bytes


def linetable_seeds(dumps):
    for tag, (ver, objs) in dumps.items():
        for i, o in enumerate(objs):
            t = bytes.fromhex(o["table"])
            write("linetable", "%s-%d" % (tag, i),
                  struct.pack("<iq", o["first"], lt_position(ver, o)) + t)


# ---- pycode ----

def put(buf, off, data):
    buf[off:off + len(data)] = data


def pystr(l, s, shape, k):
    """The bytes of a str object of layout l holding s, at the start of region k."""
    if l["str_kind"] == 1:  # 2.x: bytes
        raw = s.encode("utf-8")
        obj = bytearray(l["bytes_data"] + len(raw) + 1)
        put(obj, l["bytes_size"], struct.pack("<q", len(raw)))
        put(obj, l["bytes_data"], raw)
        return bytes(obj)
    cps = [ord(c) for c in s]
    top = max(cps) if cps else 0
    kind = 1 if top < 0x100 else 2 if top < 0x10000 else 4
    if shape == "wide":
        kind = 4  # a kind wider than needed still decodes
    ascii_ok = top < 0x80 and shape == "compact"
    fmt = {1: "B", 2: "H", 4: "I"}[kind]
    data = struct.pack("<%d%s" % (len(cps) + 1, fmt), *(cps + [0]))
    compact = shape != "legacy"
    state = (kind << 2) | (int(compact) << 5) | (int(ascii_ok) << 6)
    if ascii_ok:
        start = l["str_ascii_size"]
    elif compact:
        start = l["str_compact_size"]
    else:
        start = l["str_compact_size"] + 8  # after data.any, which points here
    # pystr_read reads str_compact_size + 8 bytes of any str.
    obj = bytearray(max(l["str_compact_size"] + 8, start + len(data)))
    put(obj, l["str_length"], struct.pack("<q", len(cps)))
    put(obj, l["str_state"], struct.pack("<I", state))
    put(obj, start, data)
    if not compact:
        put(obj, l["str_compact_size"], struct.pack("<Q", region(k, start)))
    return bytes(obj)


def pycode_seed(l, choice, obj, shape, check_type, debug_img=None):
    """Region 0 the code object, 1 its file name, 2 its name, 3 its line
    table, 4 the _Py_DebugOffsets image when the layout comes from one."""
    t = bytes.fromhex(obj["table"])
    tab = bytearray(l["bytes_data"] + len(t) + 1)
    put(tab, l["bytes_size"], struct.pack("<q", len(t)))
    put(tab, l["bytes_data"], t)
    code = bytearray(l["code_size"])
    put(code, 8, struct.pack("<Q", CODE_TYPE))
    put(code, l["co_filename"], struct.pack("<Q", region(1)))
    put(code, l["co_name"], struct.pack("<Q", region(2)))
    if l["co_qualname"] >= 0:
        put(code, l["co_qualname"], struct.pack("<Q", region(2)))
    put(code, l["co_linetable"], struct.pack("<Q", region(3)))
    put(code, l["co_firstlineno"], struct.pack("<i", obj["first"]))
    regions = [bytes(code), pystr(l, obj["filename"], "compact" if shape == "wide" else shape, 1),
               pystr(l, obj["qualname"], shape, 2), bytes(tab)]
    if debug_img is not None:
        regions.append(debug_img)
    tag = struct.unpack_from("<Q", code, l["code_tag"])[0]
    pos = obj["code"] // 2  # bytes into co_code, even
    pos &= ~1
    if l["instr_kind"] == 1:  # f_lasti in bytes
        instr = pos
    elif l["instr_kind"] == 2:  # f_lasti in code units
        instr = pos // 2
    else:  # a pointer into co_code_adaptive
        instr = region(0, l["co_code_adaptive"] + pos)
    hdr = bytes([choice, 1 if check_type else 0]) + struct.pack("<H", 1024) + bytes(4)
    hdr += struct.pack("<QQ", instr, tag)
    return hdr + SEP.join(regions)


def layouts(cc, images):
    tmp = tempfile.mkdtemp()
    try:
        c = os.path.join(tmp, "layouts.c")
        exe = os.path.join(tmp, "layouts")
        with open(c, "w") as f:
            f.write(LAYOUT_C)
        subprocess.run([cc, "-std=gnu11", "-D_GNU_SOURCE", "-I" + REPO + "/include", "-I" + REPO + "/src",
                        "-o", exe, c, REPO + "/src/pylayout.c", REPO + "/src/pydebugoffsets.c",
                        REPO + "/src/util.c"], check=True)
        paths = []
        for i, img in enumerate(images):
            p = os.path.join(tmp, "img%d" % i)
            with open(p, "wb") as f:
                f.write(img)
            paths.append(p)
        out = subprocess.run([exe] + paths, check=True, capture_output=True).stdout.decode()
        res = [json.loads(line) for line in out.splitlines()]
        for i, p in enumerate(paths):
            for r in res:
                if r["key"] == p:
                    r["key"] = "img%d" % i
        return {r["key"]: r for r in res}
    finally:
        shutil.rmtree(tmp)


def pycode_seeds(dumps, lay, debug_images):
    shapes = ["compact", "wide", "legacy"]
    for tag, (ver, objs) in dumps.items():
        if ver == "3.13":
            continue
        l = lay[ver]
        for i, o in enumerate(objs):
            shape = shapes[i % len(shapes)]
            write("pycode", "%s-%d-%s" % (tag, i, shape),
                  pycode_seed(l, VERSIONS.index(ver), o, shape, i % 2 == 0))
    # 3.13 objects under the 3.13 image's layout and the 3.14 one (same
    # code objects: only the layout differs).
    objs = dumps.get("3.13", (None, []))[1]
    for key, (img, label) in debug_images.items():
        l = lay[key]
        for i, o in enumerate(objs[:4]):
            shape = shapes[i % len(shapes)]
            write("pycode", "%s-%d-%s" % (label, i, shape),
                  pycode_seed(l, DEBUG_CHOICE, o, shape, True, img))


# ---- _Py_DebugOffsets ----

def live_313():
    code = ("import ctypes, sys\n"
            "a = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, '_PyRuntime'))\n"
            "sys.stdout.buffer.write(ctypes.string_at(a, 584))\n")
    return subprocess.run([PY313, "-c", code], check=True, capture_output=True).stdout


def image_314():
    """The made-up 3.14 image of tests/unit/test_debugoffsets.c."""
    src = open(os.path.join(REPO, "tests", "unit", "test_debugoffsets.c")).read()
    table = src[src.index("image314_members[] = {"):]
    table = table[:table.index("};")]
    img = bytearray(760)
    put(img, 0, b"xdebugpy" + struct.pack("<QQ", 0x030E00F0, 0))
    for off, v in re.findall(r"\{(\d+), (\d+)\}", table):
        put(img, int(off), struct.pack("<Q", int(v)))
    return img


def image_314_real(img313, img314):
    """The 3.14 image with the 3.13 values of the groups pycode.c uses, so
    that strings decode: code_object (less co_tlbc), pyobject, bytes, unicode."""
    img = bytearray(img314)
    for src, dst, n in ((272, 312, 10), (352, 400, 2), (512, 592, 3), (536, 616, 4)):
        put(img, dst, img313[src:src + 8 * n])
    return bytes(img)


def debugoffsets_seeds(img313, img314, img314r):
    write("debugoffsets", "3.13.0-live", img313)
    write("debugoffsets", "3.14-test-image", bytes(img314))
    write("debugoffsets", "3.14-313values", img314r)
    bad = bytearray(img313)
    put(bad, 16, struct.pack("<Q", 1))
    write("debugoffsets", "3.13t-refused", bytes(bad))
    bad = bytearray(img313)
    put(bad, 8, struct.pack("<Q", 0x030D00C1))
    write("debugoffsets", "3.13rc1-refused", bytes(bad))
    write("debugoffsets", "head-only", bytes(img313[:24]))


# ---- records ----

SAMPLE = struct.Struct("<IIQQ17QQIHHII127Q")
PYFRAME = struct.Struct("<QQQ")
BOUNDARY = (1 << 64) - 1


def record(pid, tid, kstack, py, stack, flags=0):
    regs = [0x1000 * (i + 1) for i in range(17)]
    ks = list(kstack) + [0] * (127 - len(kstack))
    head = SAMPLE.pack(pid, tid, 123456789, 0x7F0000001000, *regs, 0x7FFC00000000, len(stack), len(kstack),
                       len(py), flags, 1, *ks)
    return head + b"".join(PYFRAME.pack(*f) for f in py) + stack


def record_seeds():
    assert SAMPLE.size == 1200
    write("record", "bare", record(100, 100, [], [], b""))
    py = [(0x7F0000100000, 0x7F0000100040, 0x1234), (0x7F0000200000, 0x7F0000200010, 0x5678), (BOUNDARY, 0, 0x7FFC00000100)]
    write("record", "python", record(100, 101, [0xFFFFFFFF81000000, 0xFFFFFFFF81000100, 0xFFFFFFFF81000200], py,
                                     bytes(range(256)), 0))
    write("record", "kernel-full", record(1, 1, [0xFFFFFFFF81000000 + i for i in range(127)], [], b"", 0x40))
    write("record", "truncated", record(7, 8, [], [(0x7F0000100000, 4, 1)] * 16, b"\0" * 64, 0x04 | 0x08 | 0x10))


# ---- ELF ----

LIB3 = r'''
char _PyRuntime[64] = {1};
unsigned long Py_Version = 0x030b07f0;
char PyCode_Type[16] = {2};
char PyUnicode_Type[16] = {3};
int PyInterpreterState_Head(void) { return 0; }
'''
LIB2 = r'''
char PyCode_Type[16] = {2};
char PyString_Type[16] = {3};
char interp_head[8];
void *_PyThreadState_Current;
int PyInterpreterState_Head(void) { return 0; }
'''


def elf_seeds(cc):
    tmp = tempfile.mkdtemp()
    try:
        for name, src, soname in (("libpython3", LIB3, "libpython3.11.so.1.0"),
                                  ("libpython2", LIB2, "libpython2.7.so.1.0")):
            c = os.path.join(tmp, name + ".c")
            so = os.path.join(tmp, name + ".so")
            with open(c, "w") as f:
                f.write(src)
            subprocess.run([cc, "-shared", "-fPIC", "-nostdlib", "-O2", "-Wl,-soname," + soname,
                            "-Wl,-z,norelro", "-Wl,-z,noseparate-code", "-Wl,--build-id=none", "-o", so, c],
                           check=True)
            subprocess.run(["strip", "--strip-debug", "-R", ".comment", so], check=True)
            write("elf", name + ".so", open(so, "rb").read())
            if name == "libpython3":
                so32 = os.path.join(tmp, name + "-x32.so")
                subprocess.run(["objcopy", "-O", "elf32-x86-64", so, so32], check=True)
                write("elf", name + "-x32.so", open(so32, "rb").read())
    finally:
        shutil.rmtree(tmp)
    real = "/usr/lib/x86_64-linux-gnu/libdl.so.2"
    if os.path.exists(real):
        write("elf", "libdl.so.2", open(real, "rb").read())
    with open("/usr/bin/python3.11", "rb") as f:
        write("elf", "python3.11-head", f.read(4096))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cc", default="cc")
    args = ap.parse_args()
    for name in ("linetable", "pycode", "debugoffsets", "record", "elf"):
        shutil.rmtree(os.path.join(CORPUS, name), ignore_errors=True)
    dumps = dump_interpreters()
    linetable_seeds(dumps)
    img313 = live_313()
    img314 = image_314()
    img314r = image_314_real(img313, img314)
    debugoffsets_seeds(img313, img314, img314r)
    lay = layouts(args.cc, [img313, img314r])
    pycode_seeds(dumps, lay, {"img0": (img313, "3.13-debugoffsets"), "img1": (img314r, "3.14-debugoffsets")})
    record_seeds()
    elf_seeds(args.cc)
    total = 0
    for root, _, files in os.walk(CORPUS):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print("make_corpus: %d bytes under %s" % (total, os.path.relpath(CORPUS, REPO)))


main()
