#!/bin/sh
# The committed clang-format style holds for every C file (make check-format).
cd "$(dirname "$0")/../.." && make -s check-format
