"""Which argument of each decoded syscall holds what: one Spec per syscall name.

Specs are architecture-independent (numbers live in arch.py). The family says which decoder
in decode.py reads the arguments; the indices say where they are.
"""

from __future__ import annotations

from typing import NamedTuple

from rotrace.tracer.linux.arch import O_CREAT, WRITE_OPEN_MASK


class Spec(NamedTuple):
    """Where a syscall keeps the arguments rotrace decodes, and what it does with them."""

    name: str
    family: (
        str  # open | openat2 | handle | path | link | symlink | ioctl | bind | mqueue | clone... | context
    )
    op: str
    dirfd: int | None = None  # argument index of the directory fd (None: AT_FDCWD)
    path: int | None = None  # argument index of the path
    fd: int | None = None  # argument index of an fd the call acts on (fchmod...)
    dirfd2: int | None = None
    path2: int | None = None
    flags: int | None = None
    flag_kind: str = ""  # open | at | rename | access: which flag names apply
    mode: int | None = None
    follows: bool = False  # a symlink as the last component is followed (unless AT_SYMLINK_NOFOLLOW)
    # Trap only when argument `trap_arg` has a bit of `trap_mask` set, or equals one of
    # `trap_values` (the seccomp filter checks it in the kernel); None: always trap.
    trap_arg: int | None = None
    trap_mask: int = 0
    trap_values: tuple[int, ...] = ()


# ioctls that change inode flags (chattr: immutable, append-only...): FS_IOC_SETFLAGS (64- and
# 32-bit) and FS_IOC_FSSETXATTR.
INODE_FLAG_IOCTLS = (0x40086602, 0x40046602, 0x401C5820)
# ioctls that make, copy or remove names, or change what a file or a filesystem is, where
# Landlock does not look (it mediates no ioctl on a directory or a regular file): btrfs
# subvolumes and snapshots, an fscrypt or fs-verity policy, a filesystem's label, uuid or
# version. request -> (op, where the new name is in the argument, None: the fd's own file).
# Every request number a kernel takes for one of them is listed: a filesystem's own spelling
# of a generic one (EXT4_IOC_SETVERSION) and the 32-bit spellings (a long or a struct of
# another size), which a 64-bit kernel takes from a 64-bit caller too where its handler
# lists them (btrfs) and from an i386 one through its compat handler (ext4).
# The name offsets: struct btrfs_ioctl_vol_args {s64 fd; char name[]} and _vol_args_v2 {s64 fd;
# u64 transid, flags; u64 [4]; char name[]} (linux/btrfs.h).
BTRFS_VOL_NAME, BTRFS_VOL2_NAME, BTRFS_VOL2_FLAGS = 8, 56, 16
BTRFS_SUBVOL_SPEC_BY_ID = 1 << 4  # a _V2 destroy names the subvolume by id, not by name
BTRFS_NAME_MAX = 4040
FS_IOCTLS: dict[int, tuple[str, int | None]] = {
    0x5000940E: ("mkdir", BTRFS_VOL_NAME),  # BTRFS_IOC_SUBVOL_CREATE
    0x50009418: ("mkdir", BTRFS_VOL2_NAME),  # BTRFS_IOC_SUBVOL_CREATE_V2
    0x50009401: ("mkdir", BTRFS_VOL_NAME),  # BTRFS_IOC_SNAP_CREATE (a copy of a whole subvolume)
    0x50009417: ("mkdir", BTRFS_VOL2_NAME),  # BTRFS_IOC_SNAP_CREATE_V2
    0x5000940F: ("delete", BTRFS_VOL_NAME),  # BTRFS_IOC_SNAP_DESTROY (with everything in it)
    0x5000943F: ("delete", BTRFS_VOL2_NAME),  # BTRFS_IOC_SNAP_DESTROY_V2
    0x4008941A: ("attr", None),  # BTRFS_IOC_SUBVOL_SETFLAGS (read-only)
    0xC0C89425: ("attr", None),  # BTRFS_IOC_SET_RECEIVED_SUBVOL
    0xC0C09425: ("attr", None),  # BTRFS_IOC_SET_RECEIVED_SUBVOL_32
    0x40089413: ("attr", None),  # BTRFS_IOC_DEFAULT_SUBVOL
    0x800C6613: ("attr", None),  # FS_IOC_SET_ENCRYPTION_POLICY
    0x40806685: ("attr", None),  # FS_IOC_ENABLE_VERITY
    0x40087602: ("attr", None),  # FS_IOC_SETVERSION
    0x40047602: ("attr", None),  # FS_IOC32_SETVERSION
    0x40086604: ("attr", None),  # EXT4_IOC_SETVERSION
    0x40046604: ("attr", None),  # EXT4_IOC32_SETVERSION
    0x41009432: ("attr", None),  # FS_IOC_SETFSLABEL
    0x4008662C: ("attr", None),  # EXT4_IOC_SETFSUUID
    0x6611: ("truncate", None),  # EXT4_IOC_SWAP_BOOT: the file's blocks, size and times swapped
    0x6609: ("attr", None),  # EXT4_IOC_MIGRATE: the file's blocks moved to extents (its flags)
    0x8004587D: ("attr", None),  # FS_IOC_SHUTDOWN (ext4, xfs, f2fs): the filesystem stopped
    0x4004F50D: ("attr", None),  # F2FS_IOC_SET_PIN_FILE
}
# The ioctl families (the request's type byte) of filesystems: 'f' (FS_IOC_*, ext4, fscrypt,
# fs-verity), 'v' (the inode's version), 'X' (xfs, FS_IOC_FS*XATTR, FITRIM, FIFREEZE), btrfs's
# (0x94: FICLONE too) and f2fs's (0xf5). Under --enforce, a request of these that is not in
# FS_READ_IOCTLS (nor decided by the policy: INODE_FLAG_IOCTLS) is refused: the kernel has more
# of them than any list here (resizes, quotas, freezes, keys), and Landlock mediates none.
FS_IOCTL_FAMILIES = (0x66, 0x76, 0x58, 0x94, 0xF5)
# The requests of those families that change nothing a path rule guards: they read (flags,
# version, extents, labels, policies, btrfs's trees and subvolumes, xfs's geometry), or write
# only through an fd opened for writing, which Landlock mediated (FICLONE, FICLONERANGE,
# FIDEDUPERANGE). From linux/fs.h, fsmap.h, fscrypt.h, fsverity.h, btrfs.h; ext4's and xfs's own.
FS_READ_IOCTLS = frozenset(
    {
        0x80086601, 0x80046601, 0x80087601, 0x80047601,  # FS_IOC_GETFLAGS, GETVERSION (and 32-bit)
        0xC020660B, 0x801C581F, 0x81009431, 0xC0C0583B,  # FIEMAP, FSGETXATTR, GETFSLABEL, GETFSMAP
        0x40049409, 0x4020940D, 0xC0189436,  # FICLONE, FICLONERANGE, FIDEDUPERANGE
        0x400C6615, 0x40106614, 0xC0096616, 0xC080661A, 0x8010661B,  # fscrypt's getters
        0xC0046686, 0xC0286687,  # FS_IOC_MEASURE_VERITY, READ_VERITY_METADATA
        0x80086603, 0x80046603, 0x80086605, 0x80046605,  # EXT4_IOC_GETVERSION, GETRSVSZ (and 32-bit)
        0x40046629, 0xC020662A, 0x8008662C,  # EXT4_IOC_GETSTATE, GET_ES_CACHE, GETFSUUID
        0x800C581E, 0x80705864, 0x8078587C, 0x8100587E,  # XFS_IOC_DIOINFO, FSGEOMETRY (v1, v4, v5)
        0xD0009411, 0xC0709411, 0xD0009412, 0xD000943E,  # BTRFS_IOC_TREE_SEARCH(_V2), INO_LOOKUP(_USER)
        0x8400941F, 0xD000941E, 0xC0109414, 0x80189439,  # FS_INFO, DEV_INFO, SPACE_INFO, GET_FEATURES
        0x80489439, 0x81F8943C, 0xD000943D, 0x80089419,  # SUPPORTED_FEATURES, SUBVOL_INFO, ROOTREF, GETFLAGS
        0xC0389423, 0xC0389424, 0xC038943B, 0x84009422,  # INO_PATHS, LOGICAL_INO(_V2), BALANCE_PROGRESS
        0xC400941D, 0x8040942D, 0x80809440,  # SCRUB_PROGRESS, QUOTA_RESCAN_STATUS, ENCODED_READ
    }
)  # fmt: skip
CLONE_UNTRACED = 0x00800000
W_OK = 2  # access(2)'s mode: may the caller write
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
_MOUNTS = (
    "mount",
    "umount",
    "umount2",
    "open_tree",
    "open_tree_attr",
    "move_mount",
    "fsmount",
    "mount_setattr",
)
MOUNT_NAMES = frozenset(_MOUNTS)
SYS_BIND = 2  # socketcall's call number for bind


def _s(name: str, family: str, op: str, **kw: object) -> tuple[str, Spec]:
    return name, Spec(name, family, op, **kw)  # type: ignore[arg-type]


SPECS: dict[str, Spec] = dict(
    [
        _s(
            "open",
            "open",
            "open",
            path=0,
            flags=1,
            flag_kind="open",
            mode=2,
            trap_arg=1,
            trap_mask=WRITE_OPEN_MASK,
        ),
        _s(
            "openat",
            "open",
            "open",
            dirfd=0,
            path=1,
            flags=2,
            flag_kind="open",
            mode=3,
            trap_arg=2,
            trap_mask=WRITE_OPEN_MASK,
        ),
        _s("creat", "open", "create", path=0, flag_kind="open", mode=1),
        _s("openat2", "openat2", "open", dirfd=0, path=1, flag_kind="open"),
        # a file named by a handle (name_to_handle_at), on the mount of fd 0: no path at all
        _s(
            "open_by_handle_at",
            "handle",
            "open",
            fd=0,
            path=1,
            flags=2,
            flag_kind="open",
            trap_arg=2,
            trap_mask=WRITE_OPEN_MASK,
        ),
        _s("mkdir", "path", "mkdir", path=0, mode=1),
        _s("mkdirat", "path", "mkdir", dirfd=0, path=1, mode=2),
        _s("rename", "link", "rename", path=0, path2=1),
        _s("renameat", "link", "rename", dirfd=0, path=1, dirfd2=2, path2=3),
        _s(
            "renameat2",
            "link",
            "rename",
            dirfd=0,
            path=1,
            dirfd2=2,
            path2=3,
            flags=4,
            flag_kind="rename",
        ),
        _s("unlink", "path", "delete", path=0),
        _s("rmdir", "path", "delete", path=0),
        _s("unlinkat", "path", "delete", dirfd=0, path=1, flags=2, flag_kind="at"),
        _s("link", "link", "link", path=0, path2=1),
        _s("linkat", "link", "link", dirfd=0, path=1, dirfd2=2, path2=3, flags=4, flag_kind="at"),
        _s("symlink", "symlink", "symlink", path=0, path2=1),
        _s("symlinkat", "symlink", "symlink", path=0, dirfd2=1, path2=2),
        _s("truncate", "path", "truncate", path=0, follows=True),
        _s("truncate64", "path", "truncate", path=0, follows=True),
        _s("chmod", "path", "chmod", path=0, mode=1, follows=True),
        _s("fchmod", "path", "chmod", fd=0, mode=1),
        _s("fchmodat", "path", "chmod", dirfd=0, path=1, mode=2, follows=True),
        _s("fchmodat2", "path", "chmod", dirfd=0, path=1, mode=2, flags=3, flag_kind="at", follows=True),
        _s("chown", "path", "chown", path=0, follows=True),
        _s("chown32", "path", "chown", path=0, follows=True),
        _s("lchown", "path", "chown", path=0),
        _s("lchown32", "path", "chown", path=0),
        _s("fchown", "path", "chown", fd=0),
        _s("fchown32", "path", "chown", fd=0),
        _s("fchownat", "path", "chown", dirfd=0, path=1, flags=4, flag_kind="at", follows=True),
        _s("utime", "path", "utime", path=0, follows=True),
        _s("utimes", "path", "utime", path=0, follows=True),
        _s("utimensat", "path", "utime", dirfd=0, path=1, flags=3, flag_kind="at", follows=True),
        _s("utimensat_time64", "path", "utime", dirfd=0, path=1, flags=3, flag_kind="at", follows=True),
        _s("futimesat", "path", "utime", dirfd=0, path=1, follows=True),
        _s("mknod", "path", "mknod", path=0, mode=1),
        _s("mknodat", "path", "mknod", dirfd=0, path=1, mode=2),
        _s("setxattr", "path", "xattr", path=0, follows=True),
        _s("lsetxattr", "path", "xattr", path=0),
        _s("fsetxattr", "path", "xattr", fd=0),
        _s("removexattr", "path", "xattr", path=0, follows=True),
        _s("lremovexattr", "path", "xattr", path=0),
        _s("fremovexattr", "path", "xattr", fd=0),
        _s("setxattrat", "path", "xattr", dirfd=0, path=1, flags=2, flag_kind="at", follows=True),
        _s("removexattrat", "path", "xattr", dirfd=0, path=1, flags=2, flag_kind="at", follows=True),
        _s("file_setattr", "path", "attr", dirfd=0, path=1, flags=4, flag_kind="at", follows=True),
        _s("ioctl", "ioctl", "attr", fd=0, trap_arg=1, trap_values=(*INODE_FLAG_IOCTLS, *FS_IOCTLS)),
        # a check that the command may write a file or directory (access(2) with W_OK): no write,
        # but what the command asks of the place before it writes there (op `access`)
        _s("access", "path", "access", path=0, follows=True, trap_arg=1, trap_mask=W_OK),
        _s("faccessat", "path", "access", dirfd=0, path=1, follows=True, trap_arg=2, trap_mask=W_OK),
        _s(
            "faccessat2",
            "path",
            "access",
            dirfd=0,
            path=1,
            flags=3,
            flag_kind="access",
            follows=True,
            trap_arg=2,
            trap_mask=W_OK,
        ),
        # root's calls that open an existing file for writing by its path (acct(NULL): none)
        _s("acct", "path", "open", path=0, follows=True),
        _s("swapon", "path", "open", path=0, follows=True),
        # bind(2) of a Unix socket to a path creates the socket file (as mknod(S_IFSOCK) does);
        # i386 programs call it through socketcall(SYS_BIND, args).
        _s("bind", "bind", "mknod", fd=0, path=1),
        _s("socketcall", "bind", "mknod", trap_arg=0, trap_values=(SYS_BIND,)),
        # POSIX message queues: mq_open(O_CREAT) makes a file in the IPC namespace's mqueue
        # filesystem (seen at /dev/mqueue where that is mounted), mq_unlink removes one: the
        # name is the queue's, without its leading slash (the C library strips it).
        _s(
            "mq_open",
            "mqueue",
            "create",
            path=0,
            flags=1,
            flag_kind="open",
            mode=2,
            trap_arg=1,
            trap_mask=O_CREAT,
        ),
        _s("mq_unlink", "mqueue", "delete", path=0),
        # Not events: a child asked to be untraced is kept traced; io_uring is warned about.
        _s("clone", "clone", "", trap_arg=0, trap_mask=CLONE_UNTRACED | CLONE_NEWNS),
        _s("clone3", "clone3", ""),
        _s("io_uring_setup", "io_uring", ""),
        # Not events: a mount made, or a mount namespace of a tracee's own: from then on a name
        # /proc gives a tracee's file may be one of another tree of mounts (DirCache.apart).
        *(_s(n, "mounts", "") for n in _MOUNTS),
        # Not events: a change of a tracee's cwd, root or mount namespace (dircache.py).
        *(_s(n, "context", "") for n in ("chdir", "fchdir", "chroot", "pivot_root", "unshare", "setns")),
        # Not events: an fd of the process put over another, which a path through a dirfd or a
        # /proc/PID/fd link may be walked from (loop.py, `_moved`).
        *(_s(n, "fds", "") for n in ("dup2", "dup3")),
    ]
)

# The families whose calls are file events (the others steer the tracer).
EVENT_FAMILIES = frozenset(
    {"open", "openat2", "path", "link", "symlink", "ioctl", "bind", "handle", "mqueue"}
)
