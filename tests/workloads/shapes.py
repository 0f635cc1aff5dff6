"""Call-shape workload: CPU-burning leaves reached through every kind of frame.

The main thread runs, in turn and repeatedly (<module> -> main_loop ->
one_round -> shape_*), each shape below for SHAPE_MS of thread CPU time.
Every shape ends in its own uniquely named pure-Python leaf, so a profile is
right only if each leaf's samples carry exactly the chain of Python frames
listed here (root first; [C] marks native code in between):

  generator   shape_generator -> gen_source -> leaf_generator
              (for x in gen_source(): the generator's body calls the leaf)
  pipeline    shape_pipeline -> pipe_outer -> pipe_inner -> leaf_pipe_inner
              shape_pipeline -> pipe_outer -> leaf_pipe_outer
              (two chained generators)
  coroutine   shape_coroutine -> [asyncio event loop] -> co_outer
              -> co_inner -> leaf_coroutine
              (asyncio.run; get_event_loop().run_until_complete on 3.6;
              skipped on 2.7, which has no asyncio)
  lambda      shape_lambda -> <lambda> -> leaf_lambda
  sort_key    shape_sort_key -> [C sorted] -> <lambda> -> leaf_sort_key
  genexpr     shape_genexpr -> [C sum] -> <genexpr> -> leaf_genexpr
  listcomp    shape_listcomp -> <listcomp> -> leaf_listcomp
              (no <listcomp> frame on 2.7 and 3.12+: comprehensions inlined)
  class_body  shape_class_body -> [C __build_class__ on 3.x] -> Body
              -> leaf_class_body
  callback    shape_callback -> [C pptest_call_back] -> callback_target
              -> leaf_callback
  method      shape_method -> Worker.method -> leaf_method

Names are co_name up to 3.10 and co_qualname from 3.11 (Worker.method,
shape_lambda.<locals>.<lambda>, ...). Lines the tests check are marked with
"# @ID" comments (run.py finds them by scanning this file).

stdout: "SHAPES {json}" ({"run": [shape...], "skipped": {shape: reason}}),
then "READY".

Works on Python 2.7 and 3.6+: `async def` is a syntax error on 2.7, so the
coroutine shape is kept in the string ASYNC_SOURCE and compiled on 3.x with
this file's name and padded to its real line numbers: its frames show
shapes.py and the lines you see below.

usage: shapes.py [--ext-dir DIR] [--duration SECS]
"""
from __future__ import print_function

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wl_common  # noqa: E402

SHAPE_MS = 8.0          # thread CPU per shape per round
LEAF_ITERS = 400        # loop iterations per leaf call (~20..100 us)
COROUTINE_LEAVES = 10   # leaf calls between two trips through the event loop

pptest = None
thread_time = None


def deadline(ms):
    return thread_time() + ms / 1000.0


# --------------------------------------------------------------------------
# Leaves: each burns LEAF_ITERS iterations inline; unique names.
# --------------------------------------------------------------------------

def leaf_generator():
    x = 0
    for i in range(LEAF_ITERS):
        x = (x * 31 + i) % 1000003
    return x


def leaf_pipe_inner():
    x = 0
    for i in range(LEAF_ITERS):
        x = (x * 37 + i) % 1000003
    return x


def leaf_pipe_outer():
    x = 0
    for i in range(LEAF_ITERS):
        x = (x * 41 + i) % 1000003
    return x


def leaf_coroutine():
    x = 0
    for i in range(LEAF_ITERS):
        x = (x * 43 + i) % 1000003
    return x


def leaf_lambda():
    x = 0
    for i in range(LEAF_ITERS):
        x = (x * 47 + i) % 1000003
    return x


def leaf_sort_key(v):
    x = v
    for i in range(LEAF_ITERS):
        x = (x * 53 + i) % 1000003
    return x


def leaf_genexpr(v):
    x = v
    for i in range(LEAF_ITERS):
        x = (x * 59 + i) % 1000003
    return x


def leaf_listcomp(v):
    x = v
    for i in range(LEAF_ITERS):
        x = (x * 61 + i) % 1000003
    return x


def leaf_class_body():
    x = 0
    for i in range(LEAF_ITERS):
        x = (x * 67 + i) % 1000003
    return x


def leaf_callback():
    x = 0
    for i in range(LEAF_ITERS):
        x = (x * 71 + i) % 1000003
    return x


def leaf_method():
    x = 0
    for i in range(LEAF_ITERS):
        x = (x * 73 + i) % 1000003
    return x


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------

def gen_source(end):
    while thread_time() < end:
        yield leaf_generator()  # @gen_source.leaf_generator


def shape_generator(end):
    n = 0
    for x in gen_source(end):  # @shape_generator.gen_source
        n += 1
    return n


def pipe_inner(end):
    while thread_time() < end:
        yield leaf_pipe_inner()  # @pipe_inner.leaf_pipe_inner


def pipe_outer(source):
    for v in source:  # @pipe_outer.pipe_inner
        yield v + leaf_pipe_outer()  # @pipe_outer.leaf_pipe_outer


def shape_pipeline(end):
    n = 0
    for x in pipe_outer(pipe_inner(end)):  # @shape_pipeline.pipe_outer
        n += 1
    return n


def shape_lambda(end):
    while thread_time() < end:
        (lambda: leaf_lambda())()  # @shape_lambda.lambda


def shape_sort_key(end):
    while thread_time() < end:
        sorted(range(4), key=lambda v: leaf_sort_key(v))  # @shape_sort_key.lambda


def shape_genexpr(end):
    while thread_time() < end:
        sum(leaf_genexpr(v) for v in range(4))  # @shape_genexpr.genexpr


def shape_listcomp(end):
    while thread_time() < end:
        [leaf_listcomp(v) for v in range(4)]  # @shape_listcomp.listcomp


def shape_class_body(end):
    class Body(object):  # @shape_class_body.Body
        while thread_time() < end:
            leaf_class_body()  # @Body.leaf_class_body
    return Body


def callback_target():
    return leaf_callback()  # @callback_target.leaf_callback


def shape_callback(end):
    while thread_time() < end:
        pptest.call_back(callback_target, 4)  # @shape_callback.callback_target


class Worker(object):
    def method(self, end):
        while thread_time() < end:  # @Worker.method.loop
            leaf_method()  # @Worker.method.leaf_method


def shape_method(end):
    Worker().method(end)  # @shape_method.Worker.method


# Python 3 only (see the module docstring); compiled by load_async().
ASYNC_SOURCE = """
import asyncio


async def co_inner(end):
    while thread_time() < end:
        for i in range(COROUTINE_LEAVES):
            leaf_coroutine()  # @co_inner.leaf_coroutine
        await asyncio.sleep(0)  # back through the event loop


async def co_outer(end):
    await co_inner(end)  # @co_outer.co_inner


def shape_coroutine(end):
    if hasattr(asyncio, "run"):
        asyncio.run(co_outer(end))  # @shape_coroutine.asyncio_run
    else:
        asyncio.get_event_loop().run_until_complete(co_outer(end))  # @shape_coroutine.run_until_complete
"""


def load_async():
    """Define co_inner, co_outer, shape_coroutine from ASYNC_SOURCE."""
    path = __file__
    if path.endswith((".pyc", ".pyo")):
        path = path[:-1]
    with open(path) as f:
        first = [i for i, l in enumerate(f, 1) if l.startswith('ASYNC_SOURCE = """')]
    # ASYNC_SOURCE's text starts on that line (right after the quotes).
    code = compile("\n" * (first[0] - 1) + ASYNC_SOURCE, __file__, "exec")
    exec(code, globals())


def one_round(shapes):
    shape_generator(deadline(SHAPE_MS))  # @one_round.shape_generator
    shape_pipeline(deadline(SHAPE_MS))  # @one_round.shape_pipeline
    if "coroutine" in shapes:
        shape_coroutine(deadline(SHAPE_MS))  # @one_round.shape_coroutine  # noqa: F821
    shape_lambda(deadline(SHAPE_MS))  # @one_round.shape_lambda
    shape_sort_key(deadline(SHAPE_MS))  # @one_round.shape_sort_key
    shape_genexpr(deadline(SHAPE_MS))  # @one_round.shape_genexpr
    shape_listcomp(deadline(SHAPE_MS))  # @one_round.shape_listcomp
    shape_class_body(deadline(SHAPE_MS))  # @one_round.shape_class_body
    shape_callback(deadline(SHAPE_MS))  # @one_round.shape_callback
    shape_method(deadline(SHAPE_MS))  # @one_round.shape_method


def main_loop(stop, shapes):
    while not stop():
        one_round(shapes)  # @main_loop.one_round


ALL_SHAPES = ("generator", "pipeline", "coroutine", "lambda", "sort_key",
              "genexpr", "listcomp", "class_body", "callback", "method")


def setup():
    global pptest, thread_time
    args = wl_common.arg_parser(__doc__.split("\n")[0]).parse_args()
    pptest = wl_common.import_pptest(args.ext_dir)
    thread_time = wl_common.thread_time_fn(pptest)
    skipped = {}
    if sys.version_info[0] < 3:
        skipped["coroutine"] = "Python %d.%d has no asyncio" % sys.version_info[:2]
    else:
        load_async()
    shapes = [s for s in ALL_SHAPES if s not in skipped]
    # Warm up (3.11+ specialises bytecode on first runs).
    for _ in range(3):
        one_round(shapes)
    stop = wl_common.Stop()
    stop.install(args.duration)
    return stop, shapes, skipped


if __name__ == "__main__":
    STOP, SHAPES, SKIPPED = setup()
    print("SHAPES " + json.dumps({"run": SHAPES, "skipped": SKIPPED}, sort_keys=True))
    wl_common.announce()
    main_loop(STOP, SHAPES)  # @module.main_loop
