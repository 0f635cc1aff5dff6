/*
 * pptest: a tiny CPython extension used by pybpfprof's end-to-end tests.
 *
 * Every CPU-burning entry point spins on real CPU work for a requested
 * number of milliseconds of *thread CPU time*, inside a separate noinline
 * helper, so that a correct profile shows two distinct native frames, e.g.
 *
 *     c_gil_caller (ground_truth.py:40);pptest_burn_gil;pptest_spin_gil
 *
 * The module is built WITHOUT -fno-omit-frame-pointer on purpose: the
 * profiler has to unwind through it with DWARF CFI.
 *
 * Compiles against CPython 2.7 and 3.6 .. 3.13 (METH_VARARGS and
 * PyArg_ParseTuple only; no limited-API or version-specific calls).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/*
 * Keep helpers as real, separately named functions in the binary:
 * noinline alone still lets GCC clone them (".constprop.0", ".isra.0"),
 * which would change the symbol name the tests look for. noipa (GCC >= 8)
 * forbids all inter-procedural tricks; noclone is the older spelling.
 */
#if defined(__clang__)
#define PPTEST_KEEP __attribute__((noinline, used))
#elif defined(__GNUC__) && __GNUC__ >= 8
#define PPTEST_KEEP __attribute__((noipa, used))
#else
#define PPTEST_KEEP __attribute__((noinline, noclone, used))
#endif

/* Written by every spin loop so the compiler cannot drop the work. */
volatile uint64_t pptest_sink;

/* Work units between two clock reads: ~tens of microseconds, so the
 * clock_gettime syscall (CLOCK_THREAD_CPUTIME_ID is not in the vDSO)
 * stays a small fraction of the samples. */
#define PPTEST_CHUNK 20000

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One chunk of integer work (xorshift); the result feeds the sink. */
static inline uint64_t spin_chunk(uint64_t x)
{
    int i;
    for (i = 0; i < PPTEST_CHUNK; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

/*
 * Two identical loops with different names: the profile must tell the
 * GIL-holding path from the GIL-released one by symbol alone.
 * They return the number of chunks done so the caller has work to do
 * after the call (no tail call, so the caller's frame stays on the stack).
 */
PPTEST_KEEP uint64_t pptest_spin_gil(double ms)
{
    double end = thread_cpu_seconds() + ms / 1000.0;
    uint64_t x = pptest_sink | 1, chunks = 0;
    do {
        x = spin_chunk(x);
        chunks++;
    } while (thread_cpu_seconds() < end);
    pptest_sink = x;
    return chunks;
}

PPTEST_KEEP uint64_t pptest_spin_nogil(double ms)
{
    double end = thread_cpu_seconds() + ms / 1000.0;
    uint64_t x = pptest_sink | 1, chunks = 0;
    do {
        x = spin_chunk(x);
        chunks++;
    } while (thread_cpu_seconds() < end);
    pptest_sink = x;
    return chunks;
}

/* burn_gil(ms) -> chunks: spin with the GIL held. */
PPTEST_KEEP PyObject *pptest_burn_gil(PyObject *self, PyObject *args)
{
    double ms;
    uint64_t chunks;
    (void)self;
    if (!PyArg_ParseTuple(args, "d:burn_gil", &ms))
        return NULL;
    chunks = pptest_spin_gil(ms);
    return PyLong_FromUnsignedLongLong((unsigned long long)chunks);
}

/* burn_nogil(ms) -> chunks: spin with the GIL released. */
PPTEST_KEEP PyObject *pptest_burn_nogil(PyObject *self, PyObject *args)
{
    double ms;
    uint64_t chunks;
    (void)self;
    if (!PyArg_ParseTuple(args, "d:burn_nogil", &ms))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    chunks = pptest_spin_nogil(ms);
    Py_END_ALLOW_THREADS
    return PyLong_FromUnsignedLongLong((unsigned long long)chunks);
}

/* Calls fn() once. Returns 0 or -1 with an exception set. Not a tail call
 * into PyObject_CallObject because the result is inspected afterwards. */
PPTEST_KEEP int pptest_invoke(PyObject *fn)
{
    PyObject *res = PyObject_CallObject(fn, NULL);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

/* call_back(fn, n): C -> Python: calls fn() n times via pptest_invoke. */
PPTEST_KEEP PyObject *pptest_call_back(PyObject *self, PyObject *args)
{
    PyObject *fn;
    long n, i;
    (void)self;
    if (!PyArg_ParseTuple(args, "Ol:call_back", &fn, &n))
        return NULL;
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "call_back: fn must be callable");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (pptest_invoke(fn) < 0)
            return NULL;
    }
    return PyLong_FromLong(n);
}

/* thread_cpu_time() -> float seconds. time.thread_time() only exists
 * from 3.7; workloads use this on older interpreters. */
static PyObject *pptest_thread_cpu_time(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    return PyFloat_FromDouble(thread_cpu_seconds());
}

/* gettid() -> int: native thread id (threading.get_native_id is 3.8+). */
static PyObject *pptest_gettid(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    return PyLong_FromLong((long)syscall(SYS_gettid));
}

/* set_thread_name(name): sets the kernel comm of the calling thread so
 * the profile's "thread COMM (TID)" frame is readable. */
static PyObject *pptest_set_thread_name(PyObject *self, PyObject *args)
{
    const char *name;
    char buf[16];
    (void)self;
    if (!PyArg_ParseTuple(args, "s:set_thread_name", &name))
        return NULL;
    /* comm is at most 15 bytes + NUL; prctl truncates but be explicit. */
    snprintf(buf, sizeof(buf), "%s", name);
    if (prctl(PR_SET_NAME, buf, 0, 0, 0) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyMethodDef pptest_methods[] = {
    {"burn_gil", pptest_burn_gil, METH_VARARGS,
     "burn_gil(ms): spin ms of thread CPU time holding the GIL."},
    {"burn_nogil", pptest_burn_nogil, METH_VARARGS,
     "burn_nogil(ms): spin ms of thread CPU time with the GIL released."},
    {"call_back", pptest_call_back, METH_VARARGS,
     "call_back(fn, n): call fn() n times from C."},
    {"thread_cpu_time", pptest_thread_cpu_time, METH_NOARGS,
     "thread_cpu_time(): CPU seconds of the calling thread."},
    {"gettid", pptest_gettid, METH_NOARGS,
     "gettid(): native thread id of the calling thread."},
    {"set_thread_name", pptest_set_thread_name, METH_VARARGS,
     "set_thread_name(name): set the calling thread's kernel comm."},
    {NULL, NULL, 0, NULL}
};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef pptest_module = {
    PyModuleDef_HEAD_INIT, "pptest",
    "Test helpers for pybpfprof (CPU burners, C->Python callbacks).",
    -1, pptest_methods, NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit_pptest(void)
{
    return PyModule_Create(&pptest_module);
}
#else
PyMODINIT_FUNC initpptest(void)
{
    Py_InitModule3("pptest", pptest_methods,
                   "Test helpers for pybpfprof (CPU burners, C->Python callbacks).");
}
#endif
