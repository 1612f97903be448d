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
#include <sys/stat.h>
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

#define AUDIT_ARCH_64BIT 0x80000000u /* <linux/audit.h>'s __AUDIT_ARCH_64BIT */

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
        /* a 32-bit ABI's arguments are the registers' low halves, as its kernel entry takes them
           (the kernel reports them whole: a pointer with high bits set names the one below 4 GiB) */
        uint64_t mask = (info->arch & AUDIT_ARCH_64BIT) ? ~(uint64_t)0 : 0xFFFFFFFFu;
        PyObject *args = Py_BuildValue("(KKKKKK)", info->entry.args[0] & mask, info->entry.args[1] & mask,
                                       info->entry.args[2] & mask, info->entry.args[3] & mask,
                                       info->entry.args[4] & mask, info->entry.args[5] & mask);
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

/* statx(2) of path, by the offsets of struct statx (linux/stat.h) as dircache.py reads them:
 * 0 and the fields, or -1 when the call fails. */
struct found_statx {
    uint32_t got, major, minor;
    uint16_t mode;
    uint64_t ino, mnt;
};

static int read_statx(int dirfd, const char *path, int flags, unsigned int mask, struct found_statx *out) {
    unsigned char buf[256];
    if (syscall(SYS_statx, dirfd, path, flags, mask, buf) != 0) return -1;
    memcpy(&out->got, buf + 0, 4);
    memcpy(&out->mode, buf + 28, 2);
    memcpy(&out->ino, buf + 32, 8);
    memcpy(&out->major, buf + 136, 4);
    memcpy(&out->minor, buf + 140, 4);
    memcpy(&out->mnt, buf + 144, 8);
    return 0;
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
    struct found_statx st;
    if (read_statx(dirfd, path, flags, mask, &st) != 0) Py_RETURN_NONE;
    return Py_BuildValue("(IHKIIK)", st.got, st.mode, (unsigned long long)st.ino, st.major, st.minor,
                         (unsigned long long)st.mnt);
}

/* The placement cache's answer for one path (dircache.py, resolve.py): what DirCache.directory,
 * DirCache.known and resolve.resolve's cached branch compute, in one call. */

#define PLACE_MISS 0   /* not served from the cache: place it in Python (resolve.resolve) */
#define PLACE_MOUNTS 1 /* a cached directory would be used: check the mounts first, then ask again */

static int ends_with(const char *s, Py_ssize_t n, const char *tail) {
    Py_ssize_t t = (Py_ssize_t)strlen(tail);
    return n >= t && memcmp(s + n - t, tail, (size_t)t) == 0;
}

/* dircache._lexical_dir: absolute, no "//", no trailing "/" (but "/"), no "." or ".." name. */
static int lexical_dir(const char *p, Py_ssize_t n) {
    if (n == 0 || p[0] != '/') return 0;
    if (n > 1 && p[n - 1] == '/') return 0;
    for (Py_ssize_t i = 0; i + 1 < n; i++)
        if (p[i] == '/' && p[i + 1] == '/') return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] != '/') continue;
        Py_ssize_t j = i + 1, k = j;
        while (k < n && p[k] != '/') k++;
        Py_ssize_t len = k - j;
        if ((len == 1 && p[j] == '.') || (len == 2 && p[j] == '.' && p[j + 1] == '.')) return 0;
    }
    return 1;
}

static PyObject *miss(void) { return PyLong_FromLong(PLACE_MISS); }

/* "/" + head without its leading slashes (a path from the root), or cwd + "/" + head. */
static PyObject *joined(PyObject *cwd, const char *head, Py_ssize_t nhead) {
    if (cwd == NULL) {
        while (nhead > 0 && head[0] == '/') head++, nhead--;
        PyObject *path = PyBytes_FromStringAndSize(NULL, nhead + 1);
        if (path == NULL) return NULL;
        PyBytes_AS_STRING(path)[0] = '/';
        memcpy(PyBytes_AS_STRING(path) + 1, head, (size_t)nhead);
        return path;
    }
    if (nhead == 0) return Py_NewRef(cwd);
    const char *c = PyBytes_AS_STRING(cwd);
    Py_ssize_t nc = PyBytes_GET_SIZE(cwd);
    while (nc > 0 && c[nc - 1] == '/') nc--;
    PyObject *path = PyBytes_FromStringAndSize(NULL, nc + 1 + nhead);
    if (path == NULL) return NULL;
    char *out = PyBytes_AS_STRING(path);
    memcpy(out, c, (size_t)nc);
    out[nc] = '/';
    memcpy(out + nc + 1, head, (size_t)nhead);
    return path;
}

static int under_proc(const char *p, Py_ssize_t n) {
    return (n == 5 && memcmp(p, "/proc", 5) == 0) || (n > 5 && memcmp(p, "/proc/", 6) == 0);
}

/* DirCache.directory: the directory head names from the magic link base, read lexically (a new
 * reference); None when it is not cacheable; 0 when the tracee's root or cwd is not known yet. */
static PyObject *dir_name(const char *base, Py_ssize_t nbase, const char *head, Py_ssize_t nhead, PyObject *tid,
                          PyObject *plain, PyObject *cwds) {
    PyObject *is_plain = PyDict_GetItemWithError(plain, tid);
    if (is_plain == NULL) return PyErr_Occurred() ? NULL : miss();
    int yes = PyObject_IsTrue(is_plain);
    if (yes < 0) return NULL;
    int at_root = ends_with(base, nbase, "/root");
    if (!yes || (!at_root && !ends_with(base, nbase, "/cwd"))) Py_RETURN_NONE;
    PyObject *cwd = NULL;
    if (!at_root) {
        cwd = PyDict_GetItemWithError(cwds, tid);
        if (cwd == NULL || !PyBytes_Check(cwd)) return PyErr_Occurred() ? NULL : miss();
    }
    PyObject *path = joined(cwd, head, nhead);
    if (path == NULL) return NULL;
    if (!lexical_dir(PyBytes_AS_STRING(path), PyBytes_GET_SIZE(path)) ||
        under_proc(PyBytes_AS_STRING(path), PyBytes_GET_SIZE(path))) {
        Py_DECREF(path);
        Py_RETURN_NONE;
    }
    return path;
}

PyDoc_STRVAR(directory_doc,
             "directory(base, head, tid, plain, cwds)\n--\n\n"
             "DirCache.directory: the directory head names from the magic link base, read\n"
             "lexically; None when it is not cacheable; 0 when the tracee's root or cwd is not\n"
             "known yet (DirCache reads it).");

static PyObject *directory(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1]) || !PyDict_Check(args[3]) ||
        !PyDict_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "directory() takes (bytes, bytes, int, dict, dict)");
        return NULL;
    }
    return dir_name(PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]), PyBytes_AS_STRING(args[1]),
                    PyBytes_GET_SIZE(args[1]), args[2], args[3], args[4]);
}

PyDoc_STRVAR(lexical_doc,
             "lexical(base, raw, tid, cwds)\n--\n\n"
             "DirCache._lexical for a path already in normal form: the directory of raw from the\n"
             "magic link base, read lexically; None when not known; 0 when it needs normalising\n"
             "(DirCache does it).");

static PyObject *lexical(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1]) || !PyDict_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "lexical() takes (bytes, bytes, int, dict)");
        return NULL;
    }
    const char *base = PyBytes_AS_STRING(args[0]), *raw = PyBytes_AS_STRING(args[1]);
    Py_ssize_t nbase = PyBytes_GET_SIZE(args[0]), nraw = PyBytes_GET_SIZE(args[1]);
    while (nraw > 0 && raw[nraw - 1] == '/') nraw--; /* raw.rstrip("/").rpartition("/")[0] */
    Py_ssize_t nhead = nraw - 1;
    while (nhead >= 0 && raw[nhead] != '/') nhead--;
    if (nhead < 0) nhead = 0;
    int at_root = ends_with(base, nbase, "/root");
    PyObject *cwd = NULL;
    if (!at_root) {
        cwd = PyDict_GetItemWithError(args[3], args[2]);
        if (cwd == NULL) {
            if (PyErr_Occurred()) return NULL;
            Py_RETURN_NONE;
        }
        if (!ends_with(base, nbase, "/cwd") || !PyBytes_Check(cwd)) Py_RETURN_NONE;
    }
    PyObject *path = joined(cwd, raw, nhead);
    if (path == NULL) return NULL;
    if (!lexical_dir(PyBytes_AS_STRING(path), PyBytes_GET_SIZE(path))) {
        Py_DECREF(path);
        return miss();
    }
    return path;
}

PyDoc_STRVAR(place_doc,
             "place(base, raw, follow, tid, plain, cwds, real, unchecked, mask)\n--\n\n"
             "Where raw (from the magic link base) lands when its directory is in the placement\n"
             "cache (dircache.py): the path, or 0 (place it in Python) or 1 (check the mounts,\n"
             "then ask again). A cached directory whose statx no longer matches is dropped.");

static PyObject *place(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1]) || !PyDict_Check(args[4]) ||
        !PyDict_Check(args[5]) || !PyDict_Check(args[6])) {
        PyErr_SetString(PyExc_TypeError, "place() takes (bytes, bytes, bool, int, dict, dict, dict, bool, int)");
        return NULL;
    }
    const char *base = PyBytes_AS_STRING(args[0]), *raw = PyBytes_AS_STRING(args[1]);
    Py_ssize_t nbase = PyBytes_GET_SIZE(args[0]), nraw = PyBytes_GET_SIZE(args[1]);
    int follow = PyObject_IsTrue(args[2]), unchecked = PyObject_IsTrue(args[7]);
    unsigned int mask = (unsigned int)PyLong_AsUnsignedLong(args[8]);
    if (follow < 0 || unchecked < 0 || PyErr_Occurred()) return NULL;
    PyObject *tid = args[3], *plain = args[4], *cwds = args[5], *real = args[6];
    if (memchr(raw, 0, (size_t)nraw) != NULL) return miss();
    int at_root = ends_with(base, nbase, "/root");
    if (!at_root && !ends_with(base, nbase, "/cwd")) return miss();
    if (at_root)
        while (nraw > 0 && raw[0] == '/') raw++, nraw--;
    /* the last name, and the directory before it (resolve.resolve) */
    Py_ssize_t stripped = nraw;
    while (stripped > 0 && raw[stripped - 1] == '/') stripped--;
    Py_ssize_t nhead = 0, name_at = 0, nname = 0;
    if (stripped > 0) {
        Py_ssize_t cut = stripped - 1;
        while (cut >= 0 && raw[cut] != '/') cut--;
        nhead = cut < 0 ? 0 : cut;
        name_at = cut + 1;
        nname = stripped - name_at;
    }
    const char *name = raw + name_at;
    if (nname == 0 || (nname == 1 && name[0] == '.') || (nname == 2 && name[0] == '.' && name[1] == '.')) {
        nhead = nraw; /* the path names a directory as a whole */
        nname = 0;
    } else if (nraw > 0 && raw[nraw - 1] == '/') {
        follow = 1; /* a slash after the last name: the kernel follows it */
    }
    /* DirCache.directory: a plain tracee, its root or its known cwd, a lexical name */
    PyObject *path = dir_name(base, nbase, raw, nhead, tid, plain, cwds);
    if (path == NULL) return NULL;
    if (!PyBytes_Check(path)) {
        Py_DECREF(path);
        return miss();
    }
    const char *p = PyBytes_AS_STRING(path);
    Py_ssize_t np = PyBytes_GET_SIZE(path);
    /* DirCache.known: cached, the mounts checked since the write's entry, the same statx */
    PyObject *where = PyDict_GetItemWithError(real, path);
    if (where == NULL || !PyTuple_Check(where) || PyTuple_GET_SIZE(where) != 4) {
        Py_DECREF(path);
        return PyErr_Occurred() ? NULL : miss();
    }
    if (unchecked) {
        Py_DECREF(path);
        return PyLong_FromLong(PLACE_MOUNTS);
    }
    struct found_statx st;
    int same = 0;
    if (read_statx(AT_FDCWD, p, 0, mask, &st) == 0 && S_ISDIR(st.mode) && (st.got & 0x100) &&
        (st.got & (0x1000 | 0x4000))) {
        PyObject *now = Py_BuildValue("(KIIK)", (unsigned long long)st.mnt, st.major, st.minor,
                                      (unsigned long long)st.ino);
        if (now == NULL) {
            Py_DECREF(path);
            return NULL;
        }
        same = PyObject_RichCompareBool(now, where, Py_EQ);
        Py_DECREF(now);
        if (same < 0) {
            Py_DECREF(path);
            return NULL;
        }
    }
    if (!same) { /* changed with no event taken in yet, or a mount: placed again */
        int rc = PyDict_DelItem(real, path);
        Py_DECREF(path);
        return rc < 0 ? NULL : miss();
    }
    if (nname == 0) return path;
    Py_ssize_t keep = np;
    while (keep > 0 && p[keep - 1] == '/') keep--;
    PyObject *placed = PyBytes_FromStringAndSize(NULL, keep + 1 + nname);
    if (placed == NULL) {
        Py_DECREF(path);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(placed);
    memcpy(out, p, (size_t)keep);
    out[keep] = '/';
    memcpy(out + keep + 1, name, (size_t)nname);
    Py_DECREF(path);
    if (follow) { /* resolve._is_link: only a name that is not there is surely no symlink */
        struct stat st;
        if (lstat(out, &st) == 0 ? S_ISLNK(st.st_mode) : errno != ENOENT) {
            Py_DECREF(placed);
            return miss();
        }
    }
    return placed;
}

static PyMethodDef methods[] = {
    {"run", (PyCFunction)(void (*)(void))run, METH_FASTCALL, run_doc},
    {"hand_back", hand_back, METH_NOARGS, hand_back_doc},
    {"arm", arm, METH_O, arm_doc},
    {"take", take, METH_NOARGS, take_doc},
    {"cstring", (PyCFunction)(void (*)(void))cstring, METH_FASTCALL, cstring_doc},
    {"statx", (PyCFunction)(void (*)(void))statx_call, METH_FASTCALL, statx_doc},
    {"place", (PyCFunction)(void (*)(void))place, METH_FASTCALL, place_doc},
    {"directory", (PyCFunction)(void (*)(void))directory, METH_FASTCALL, directory_doc},
    {"lexical", (PyCFunction)(void (*)(void))lexical, METH_FASTCALL, lexical_doc},
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
