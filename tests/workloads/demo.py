"""Demo workload for `make demo`: a fake image-processing service.

Each batch of "images" goes through
  parse_header     pure-Python parsing of a text header
  resize_image     native code (pptest.burn_nogil stands in for a C resizer)
  compress_image   zlib.compress   (native: libz)
  checksum_image   hashlib.sha256  (native: libcrypto or CPython's sha256)
so one flame graph shows Python, C-extension, libc/library and kernel time.

Runs until killed (or --duration). Prints READY when warmed up, and on
stderr the command line to profile it. Without a built pptest it still
runs, with a pure-Python stand-in for resize_image.

usage: demo.py [--ext-dir DIR] [--duration SECS]
"""
from __future__ import print_function

import hashlib
import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wl_common  # noqa: E402

pptest = None


def make_image(i):
    header = "width=640\nheight=480\nformat=rgb\nid=%d\n" % i
    pixels = bytes(bytearray((i * 7 + j * 13) & 0xFF for j in range(64 * 1024)))
    return header, pixels


def parse_header(text):
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip()
    return fields


def resize_image(pixels, fields):
    if pptest is not None:
        pptest.burn_nogil(1.0)       # "native resize", ~1 ms of CPU
        return pixels[::2]
    total = 0                        # pure-Python fallback
    for b in bytearray(pixels[:20000]):
        total += b
    return pixels[::2]


def compress_image(pixels):
    return zlib.compress(pixels, 6)


def checksum_image(blob):
    return hashlib.sha256(blob).hexdigest()


def process_batch(images):
    digests = []
    for header, pixels in images:
        for _ in range(150):         # parsing is a visible, not dominant, cost
            fields = parse_header(header)
        small = resize_image(pixels, fields)
        compressed = compress_image(pixels)
        digests.append(checksum_image(small * 4 + compressed))
    return digests


def serve_forever(stop, images):
    while not stop():
        process_batch(images)


def main():
    global pptest
    args = wl_common.arg_parser(__doc__.split("\n")[0]).parse_args()
    pptest = wl_common.import_pptest(args.ext_dir, required=False)
    if pptest is None:
        sys.stderr.write("demo: pptest not found, using a pure-Python resize\n")
    images = [make_image(i) for i in range(8)]
    stop = wl_common.Stop()
    stop.install(args.duration)
    process_batch(images)            # warm up
    sys.stderr.write("demo: pid %d, profile with: build/pybpfprof --pid %d "
                     "--seconds 5\n" % (os.getpid(), os.getpid()))
    wl_common.announce()
    serve_forever(stop, images)


if __name__ == "__main__":
    main()
