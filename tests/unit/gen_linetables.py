"""Prints line-table fixtures from the running interpreter, for test_linetable.

One line per code object: KIND FIRSTLINENO HEXTABLE LINES, where LINES gives
the interpreter's own line for every code unit (3.10+) or byte offset (<=3.9),
-1 where it has none. Runs on any CPython from 2.7 on.
"""
import sys, os, types

def code_objects(co):
    yield co
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            for x in code_objects(c):
                yield x

def expected_lines(co):
    n = len(co.co_code)
    if sys.version_info >= (3, 11):
        # one position per code unit, caches included
        return ["-1" if p[0] is None else str(p[0]) for p in co.co_positions()]
    if sys.version_info >= (3, 10):
        out = ["-1"] * (n // 2)
        for start, end, line in co.co_lines():
            for a in range(start, end, 2):
                out[a // 2] = "-1" if line is None else str(line)
        return out
    import dis
    starts = list(dis.findlinestarts(co))
    out, j, line = [], 0, co.co_firstlineno
    for a in range(n):
        while j < len(starts) and starts[j][0] <= a:
            line = starts[j][1]
            j += 1
        out.append(str(line))
    return out

def main():
    if sys.version_info >= (3, 11):
        kind, table = "locations", lambda c: c.co_linetable
    elif sys.version_info >= (3, 10):
        kind, table = "linetable310", lambda c: c.co_linetable
    elif sys.version_info >= (3,):
        kind, table = "lnotab", lambda c: c.co_lnotab
    else:
        kind, table = "lnotab27", lambda c: c.co_lnotab
    libdir = os.path.dirname(os.__file__)
    names = sorted(f for f in os.listdir(libdir) if f.endswith(".py"))[:40]
    for name in names:
        try:
            with open(os.path.join(libdir, name), "rb") as f:
                top = compile(f.read(), name, "exec")
        except Exception:
            continue
        for co in code_objects(top):
            t = table(co)
            hexs = t.hex() if hasattr(t, "hex") else t.encode("hex")
            print("%s %d %s %s" % (kind, co.co_firstlineno, hexs or "-", ",".join(expected_lines(co))))

main()
