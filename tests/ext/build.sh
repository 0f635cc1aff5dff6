#!/bin/sh
# Build the pptest extension for one interpreter.
#   usage: tests/ext/build.sh PYTHON OUTDIR
# Produces OUTDIR/pptest<EXT_SUFFIX> (e.g. pptest.cpython-311-x86_64-linux-gnu.so).
# Quiet on success; compiler output and a one-line reason on failure.
#
# Deliberately no -fno-omit-frame-pointer: the profiler must unwind this
# module with DWARF CFI. -g keeps symbols and CFI for the test assertions.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 PYTHON OUTDIR" >&2
    exit 2
fi
PYTHON=$1
OUTDIR=$2
SRC=$(dirname "$0")/pptest.c
CC=${CC:-cc}

# Ask the interpreter itself (works on 2.7 and 3.x) rather than guessing
# which python-config matches it: include dirs and the extension suffix.
INFO=$("$PYTHON" -c '
import sys, sysconfig
paths = sysconfig.get_paths()
incs = []
for key in ("include", "platinclude"):
    p = paths.get(key)
    if p and p not in incs:
        incs.append(p)
suffix = sysconfig.get_config_var("EXT_SUFFIX") or sysconfig.get_config_var("SO") or ".so"
sys.stdout.write(suffix + "\n" + " ".join("-I" + p for p in incs) + "\n")
') || { echo "build.sh: cannot query $PYTHON" >&2; exit 1; }

SUFFIX=$(printf '%s\n' "$INFO" | sed -n 1p)
INCLUDES=$(printf '%s\n' "$INFO" | sed -n 2p)

mkdir -p "$OUTDIR"
OUT=$OUTDIR/pptest$SUFFIX
# shellcheck disable=SC2086  # INCLUDES is a word list on purpose
if ! "$CC" -O2 -g -fPIC -shared -Wall -Wextra -Wno-missing-field-initializers \
        $INCLUDES -o "$OUT.tmp" "$SRC"; then
    echo "build.sh: compiling $SRC for $PYTHON failed" >&2
    rm -f "$OUT.tmp"
    exit 1
fi
# Atomic replace: a workload importing the module never sees half a file.
mv -f "$OUT.tmp" "$OUT"
