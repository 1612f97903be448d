/* The tracer's hot path in C: wait for a stop, read its syscall facts, resume.
 *
 * loop.py's Tracer keeps every decision: this only runs the mechanics of the stops that are
 * syscall entries and exits of threads the tracer knows, calling back into Python for what
 * needs deciding (decode an entry, place a call's paths at its exit, emit the event). Any
 * other stop (a new thread, exec, fork, exit, signal, group-stop, a call of another family
 * or ABI, a failed ptrace request) is handed back to Python, which handles it as the pure
 * loop does. The pure loop is the reference: both run the same tests (docs/testing.md).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>

#define GET_SYSCALL_INFO 0x420e
#define INFO_ENTRY 1
#define INFO_EXIT 2
#define INFO_SECCOMP 3
#define EVENT_SECCOMP 7
#define WALL 0x40000000

/* Kinds of a syscall number (the table loop.py builds): what to do at its entry. */
#define KIND_RESUME 0 /* not decoded: resume */
#define KIND_EVENT 1  /* a file call: decode it (entry callback), then catch its exit */
                      /* anything else: hand the stop to Python */

/* struct ptrace_syscall_info (linux/ptrace.h, which clashes with glibc's sys/ptrace.h). */
struct syscall_info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t stack_pointer;
    union {
        struct {
            uint64_t nr;
            uint64_t args[6];
        } entry;
        struct {
            int64_t rval;
            uint8_t is_error;
        } exit;
    };
};

static PyObject *pending_name; /* "pending": the attribute of loop.py's _Thread */

/* PTRACE_SYSCALL while a call is pending (to catch its exit) or without the seccomp filter;
 * PTRACE_CONT otherwise. A tracee that died meanwhile (ESRCH) still reports its exit. */
static int resume(pid_t tid, PyObject *thread, int seccomp) {
    PyObject *pending = PyObject_GetAttr(thread, pending_name);
    if (pending == NULL) return -1;
    int request = (!seccomp || pending != Py_None) ? PTRACE_SYSCALL : PTRACE_CONT;
    Py_DECREF(pending);
    if (ptrace(request, tid, 0, 0) < 0 && errno != ESRCH) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

static PyObject *call4(PyObject *fn, PyObject *a, PyObject *b, PyObject *c, PyObject *d) {
    PyObject *args[4] = {a, b, c, d};
    return PyObject_Vectorcall(fn, args, 4, NULL);
}

/* An entry stop: decode (entry callback) a file call of a started trace, then resume.
 * Returns 1 when handled, 0 to hand the stop to Python, -1 on an exception. */
static int entry_stop(pid_t tid, PyObject *tid_obj, PyObject *thread, const struct syscall_info *info,
                    PyObject *kinds, PyObject *on_decode, int seccomp, int started,
                    unsigned long long x32_bit) {
    PyObject *arch = PyLong_FromUnsignedLong(info->arch);
    if (arch == NULL) return -1;
    PyObject *table = PyDict_GetItemWithError(kinds, arch); /* borrowed */
    if (table == NULL || !PyBytes_Check(table)) {
        Py_DECREF(arch);
        return PyErr_Occurred() ? -1 : 0; /* an ABI the tracer does not know */
    }
    uint64_t nr = info->entry.nr;
    if (x32_bit && (nr & x32_bit)) {
        Py_DECREF(arch);
        return 0;
    }
    int kind = nr < (uint64_t)PyBytes_GET_SIZE(table) ? PyBytes_AS_STRING(table)[nr] : -1;
    if (kind == KIND_EVENT && started) {
        PyObject *args = Py_BuildValue("(KKKKKK)", info->entry.args[0], info->entry.args[1],
                                       info->entry.args[2], info->entry.args[3], info->entry.args[4],
                                       info->entry.args[5]);
        PyObject *nr_obj = PyLong_FromUnsignedLongLong(nr);
        PyObject *decoded = NULL;
        if (args != NULL && nr_obj != NULL) {
            PyObject *call[5] = {tid_obj, thread, arch, nr_obj, args};
            decoded = PyObject_Vectorcall(on_decode, call, 5, NULL);
        }
        Py_XDECREF(args);
        Py_XDECREF(nr_obj);
        Py_DECREF(arch);
        if (decoded == NULL) return -1;
        Py_DECREF(decoded);
        return resume(tid, thread, seccomp) < 0 ? -1 : 1;
    }
    Py_DECREF(arch);
    if (kind == KIND_RESUME || (kind == KIND_EVENT && !started))
        return resume(tid, thread, seccomp) < 0 ? -1 : 1;
    return 0;
}

/* An exit stop: place the pending call's paths (the tracee still stopped), resume, emit. */
static int exit_stop(pid_t tid, PyObject *tid_obj, PyObject *thread, const struct syscall_info *info,
                   PyObject *on_place, PyObject *on_emit, int seccomp) {
    PyObject *pending = PyObject_GetAttr(thread, pending_name);
    if (pending == NULL) return -1;
    if (pending == Py_None) {
        Py_DECREF(pending);
        return resume(tid, thread, seccomp) < 0 ? -1 : 1;
    }
    PyObject *result = PyLong_FromLongLong(info->exit.rval);
    PyObject *done = result == NULL ? NULL : call4(on_place, tid_obj, thread, pending, result);
    if (done != NULL) {
        Py_DECREF(done);
        done = resume(tid, thread, seccomp) < 0 ? NULL : call4(on_emit, tid_obj, thread, pending, result);
    }
    Py_XDECREF(result);
    Py_DECREF(pending);
    if (done == NULL) return -1;
    Py_DECREF(done);
    return 1;
}

PyDoc_STRVAR(run_doc,
             "run(threads, kinds, on_decode, on_place, on_emit, seccomp, started, x32_bit)\n"
             "--\n\n"
             "Handle syscall stops until one needs Python: returns (tid, status, handled),\n"
             "the stop for Python to handle (tid 0: a signal handler ran, look again) and\n"
             "how many stops were handled here. ChildProcessError when no tracee is left.");

/* Set by hand_back() (a signal handler asking to detach, which runs inside a callback): the loop
 * returns to Python after the stop it is handling, which a PTRACE_INTERRUPT sent then cannot do
 * (the syscall stop it handles next takes the interrupt's place). */
static volatile sig_atomic_t wanted = 0;

PyDoc_STRVAR(hand_back_doc,
             "hand_back()\n--\n\n"
             "Have run() return (tid 0) after the stop it is handling, as for a signal.");

static PyObject *hand_back(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(arg)) {
    wanted = 1;
    Py_RETURN_NONE;
}

static PyObject *run(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8 || !PyDict_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "run() takes (dict, dict, f, f, f, bool, bool, int)");
        return NULL;
    }
    PyObject *threads = args[0], *kinds = args[1];
    PyObject *on_decode = args[2], *on_place = args[3], *on_emit = args[4];
    int seccomp = PyObject_IsTrue(args[5]), started = PyObject_IsTrue(args[6]);
    unsigned long long x32_bit = PyLong_AsUnsignedLongLong(args[7]);
    if (seccomp < 0 || started < 0 || PyErr_Occurred()) return NULL;
    long long handled = 0;
    struct syscall_info info;
    for (;;) {
        int status = 0;
        pid_t tid;
        Py_BEGIN_ALLOW_THREADS
        tid = waitpid(-1, &status, WALL);
        Py_END_ALLOW_THREADS
        if (tid < 0) {
            if (errno != EINTR) return PyErr_SetFromErrno(PyExc_OSError);
            if (PyErr_CheckSignals() < 0) return NULL;
            return Py_BuildValue("(iiL)", 0, 0, handled);
        }
        int syscall_stop = WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80);
        int seccomp_stop = WIFSTOPPED(status) && (status >> 16) == EVENT_SECCOMP;
        if (!syscall_stop && !seccomp_stop) return Py_BuildValue("(iiL)", tid, status, handled);
        PyObject *tid_obj = PyLong_FromLong(tid);
        if (tid_obj == NULL) return NULL;
        PyObject *thread = PyDict_GetItemWithError(threads, tid_obj); /* borrowed */
        int done = 0;
        if (thread != NULL && ptrace(GET_SYSCALL_INFO, tid, (void *)sizeof info, &info) > 0) {
            Py_INCREF(thread);
            if (info.op == INFO_EXIT && syscall_stop)
                done = exit_stop(tid, tid_obj, thread, &info, on_place, on_emit, seccomp);
            else if (info.op == INFO_SECCOMP || (info.op == INFO_ENTRY && syscall_stop))
                done = entry_stop(tid, tid_obj, thread, &info, kinds, on_decode, seccomp, started, x32_bit);
            Py_DECREF(thread);
        }
        Py_DECREF(tid_obj);
        if (done < 0 || PyErr_Occurred()) return NULL;
        if (done == 0) return Py_BuildValue("(iiL)", tid, status, handled);
        handled++;
        if (wanted) {
            wanted = 0;
            return Py_BuildValue("(iiL)", 0, 0, handled);
        }
    }
}

/* The placement cache's news (dircache.py): the kernel raises SIGIO at this thread inside the
 * call that queues an inotify event, so the flag is set before this thread's next return from
 * the kernel (the wait that reports the stop after that call): read with no system call. */
static volatile sig_atomic_t queued = 0;

static void on_sigio(int Py_UNUSED(sig)) { queued = 1; }

PyDoc_STRVAR(arm_doc,
             "arm(fd)\n--\n\n"
             "Have the kernel signal this thread when fd has something to read (O_ASYNC,\n"
             "F_SETOWN_EX to this thread, SIGIO restarting the calls it interrupts); the flag\n"
             "is set, for whatever was queued before.");

static PyObject *arm(PyObject *Py_UNUSED(self), PyObject *arg) {
    int fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) return NULL;
    struct sigaction action = {0};
    action.sa_handler = on_sigio;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    struct f_owner_ex owner = {F_OWNER_TID, (pid_t)syscall(SYS_gettid)};
    int flags = fcntl(fd, F_GETFL);
    sigset_t sigio;
    sigemptyset(&sigio);
    sigaddset(&sigio, SIGIO);
    if (sigaction(SIGIO, &action, NULL) < 0 || pthread_sigmask(SIG_UNBLOCK, &sigio, NULL) != 0 || flags < 0 ||
        fcntl(fd, F_SETOWN_EX, &owner) < 0 || fcntl(fd, F_SETSIG, SIGIO) < 0 ||
        fcntl(fd, F_SETFL, flags | O_ASYNC) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    queued = 1;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(take_doc, "take()\n--\n\nWhether SIGIO came since the last take (and clear the flag).");

static PyObject *take(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(arg)) {
    /* one instruction: a SIGIO handled between a load and a store would be lost */
    int was = __atomic_exchange_n(&queued, 0, __ATOMIC_SEQ_CST);
    return PyBool_FromLong(was);
}


/* Helpers for the placement of paths, which both loops call once or more per write: the same
 * system calls as their pure-Python versions (memory.py, dircache.py), without the cost of
 * building them from Python objects. */

#define PATH_MAX_READ 4096
#define FIRST_READ 256

PyDoc_STRVAR(cstring_doc,
             "cstring(fd, addr)\n--\n\n"
             "The NUL-terminated string at addr, read with pread from fd (a /proc/PID/mem):\n"
             "256 bytes, then a page at a time, up to PATH_MAX bytes (what memory.py's loop\n"
             "reads). None when a read fails or reads nothing: that loop then reads it.");

static PyObject *cstring(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "cstring() takes (fd, addr)");
        return NULL;
    }
    int fd = PyLong_AsLong(args[0]);
    unsigned long long addr = PyLong_AsUnsignedLongLong(args[1]);
    if (PyErr_Occurred()) return NULL;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    /* the loop reads at most one page past PATH_MAX bytes */
    size_t cap = PATH_MAX_READ + (size_t)page + FIRST_READ;
    char *buf = PyMem_Malloc(cap);
    if (buf == NULL) return PyErr_NoMemory();
    size_t have = 0, size = FIRST_READ;
    PyObject *found = NULL;
    while (have < PATH_MAX_READ) {
        size_t to_page = (size_t)page - (size_t)(addr % (unsigned long long)page);
        size_t want = size < to_page ? size : to_page;
        ssize_t n = pread(fd, buf + have, want, (off_t)addr); /* a stopped tracee: no wait */
        if (n <= 0) {
            PyMem_Free(buf);
            Py_RETURN_NONE; /* memory.py's loop retries, reopens, or falls back */
        }
        char *nul = memchr(buf + have, 0, (size_t)n);
        if (nul != NULL) {
            found = PyBytes_FromStringAndSize(buf, nul - buf);
            PyMem_Free(buf);
            return found;
        }
        have += (size_t)n;
        addr += (unsigned long long)n;
        size = (size_t)page;
    }
    found = PyBytes_FromStringAndSize(buf, (Py_ssize_t)have);
    PyMem_Free(buf);
    return found;
}

PyDoc_STRVAR(statx_doc,
             "statx(dirfd, path, flags, mask)\n--\n\n"
             "statx(2): (mask, mode, inode, dev major, dev minor, mount id) of what path\n"
             "(relative to dirfd) names, or None when the call fails.");

static PyObject *statx_call(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "statx() takes (int, bytes, int, int)");
        return NULL;
    }
    int dirfd = PyLong_AsLong(args[0]);
    int flags = PyLong_AsLong(args[2]);
    unsigned int mask = (unsigned int)PyLong_AsUnsignedLong(args[3]);
    if (PyErr_Occurred()) return NULL;
    const char *path = PyBytes_AS_STRING(args[1]);
    if ((size_t)PyBytes_GET_SIZE(args[1]) != strlen(path)) {
        PyErr_SetString(PyExc_ValueError, "embedded null byte");
        return NULL;
    }
    /* struct statx by its offsets (linux/stat.h), as dircache.py reads it */
    unsigned char buf[256];
    if (syscall(SYS_statx, dirfd, path, flags, mask, buf) != 0) Py_RETURN_NONE;
    uint32_t got, major, minor;
    uint16_t mode;
    uint64_t ino, mnt;
    memcpy(&got, buf + 0, 4);
    memcpy(&mode, buf + 28, 2);
    memcpy(&ino, buf + 32, 8);
    memcpy(&major, buf + 136, 4);
    memcpy(&minor, buf + 140, 4);
    memcpy(&mnt, buf + 144, 8);
    return Py_BuildValue("(IHKIIK)", got, mode, (unsigned long long)ino, major, minor, (unsigned long long)mnt);
}

static PyMethodDef methods[] = {
    {"run", (PyCFunction)(void (*)(void))run, METH_FASTCALL, run_doc},
    {"hand_back", hand_back, METH_NOARGS, hand_back_doc},
    {"arm", arm, METH_O, arm_doc},
    {"take", take, METH_NOARGS, take_doc},
    {"cstring", (PyCFunction)(void (*)(void))cstring, METH_FASTCALL, cstring_doc},
    {"statx", (PyCFunction)(void (*)(void))statx_call, METH_FASTCALL, statx_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_fastloop",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__fastloop(void) {
    pending_name = PyUnicode_InternFromString("pending");
    if (pending_name == NULL) return NULL;
    return PyModule_Create(&module);
}
