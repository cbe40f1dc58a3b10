"""The confinement of a script run by the virtual phone's `python3`: what keeps it on the phone.

pyboot.py calls `confine()` in the child process before the pushed script's first line runs, so nothing
untrusted executes until every layer is in place. Standard library only (it runs in the child).

Layers, outermost first (`confine` returns a one-line status per layer, pyrun logs any that are missing):

1. **The process** (set up by pyrun): a fresh interpreter started with `-I -S -B` (no site-packages, no
   PYTHON* variables, no bytecode writes), an empty host environment (the phone's environment is handed
   over in the config, never as the real one, so `LD_PRELOAD=... python3` on the phone does nothing), its
   own session, no inherited descriptors but stdin/stdout/stderr pipes and the phone's RPC socket.
2. **Resource limits** (`setrlimit`, soft = hard): address space (`ScriptLimits.memory_bytes`), open
   files, file size 0 (a script has no host file to write), no core dumps. No CPU-time or wall-time limit:
   a governor daemon runs for hours. RLIMIT_NPROC is not used: it counts every thread of the user and is
   not enforced for root; process creation is stopped by layers 4 and 5 instead.
3. **Landlock** (if the kernel has it; ABI >= 1): the only host files the process can open are the
   standard library (without site-packages) and the system's shared libraries, read-only; no TCP bind or
   connect (ABI >= 4); no signals to, and no abstract unix sockets of, processes outside the sandbox
   (ABI >= 6). Enforced by the kernel, whatever the Python code does.
4. **seccomp** (x86_64): a filter that refuses with EPERM: execve/execveat, fork, vfork and clone without
   CLONE_THREAD (clone3 answers ENOSYS so threads fall back to clone), sockets other than unix stream
   sockets, connect/bind/listen, sendto with an address, signals to any process but itself, ptrace and
   the process_vm/pidfd calls, setrlimit/prlimit with new limits, opening any file for writing, every
   call that creates, removes, renames or changes files, mount/namespace/module/key/bpf/io_uring calls,
   uid changes, and ioctls other than the terminal queries Python's startup makes. Also enforced by the
   kernel; `no_new_privs` is set. On other architectures this layer is skipped (noted in the status).
5. **Capabilities** (when the emulator runs as root): the bounding, ambient, effective, permitted and
   inheritable sets are emptied.
6. **The audit hook** (`sys.addaudithook`), installed last: refuses, with a PermissionError naming what
   was refused, every event that would reach the host: opening a host path other than a read of the
   standard library, listing host directories, process creation (os.exec*, os.posix_spawn, os.fork,
   os.system, subprocess.Popen), os.kill/killpg (the phone's own `os.kill` goes to the phone), network
   sockets and name lookups, mmap of a host descriptor, fcntl.ioctl on a host descriptor, resource
   limits, gc.get_objects/get_referrers/get_referents, ctypes, subinterpreters, changes to the hook, and
   imports of modules that give raw access (ctypes, _posixsubprocess, a fresh `posix`, `_test*`) or of
   extension modules from outside the standard library. Functions that raise no audit event and matter
   (mkfifo, mknod, chroot, setuid..., pidfd_open, setpriority, sched_setaffinity, stat/lstat/readlink of
   host paths) are replaced in `posix`/`os` by versions that refuse them the same way.

What is guaranteed and what is defence in depth: layers 3 and 4 are enforced by the kernel and hold even
against a script that corrupts the interpreter (crafted bytecode through marshal, a buggy extension); the
audit hook is what gives clear errors, and on its own it is not a security boundary (CPython says so): a
determined script can find the original C functions through introspection. Without Landlock, host files
outside the standard library are guarded by the audit hook only; the kernel layers do not cover metadata
(`stat` of a host path reachable through introspection) and allow reading the system's shared libraries.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import signal
import struct
import sys

PHONE_FD_BASE = 1 << 20  # descriptors at or above this are the phone's (pyboot's fake fds), never the host's

# --- resource limits ----------------------------------------------------------------------------------


def set_limits(memory_bytes: int, open_files: int) -> tuple[bool, str]:
    """Soft = hard, so the script cannot raise them back (and layer 4 refuses setrlimit anyway)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails with EFBIG, no kill
    limits = [
        (resource.RLIMIT_AS, memory_bytes),
        (resource.RLIMIT_NOFILE, open_files),
        (resource.RLIMIT_FSIZE, 0),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_MEMLOCK, 0),
    ]
    for kind, value in limits:
        resource.setrlimit(kind, (value, value))
    return True, f"address space {memory_bytes >> 20} MiB, {open_files} open files, file size 0, no core dumps"


# --- Landlock -----------------------------------------------------------------------------------------

_SYS_LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self: one number on every architecture
_LL_FS_READ = (1 << 2) | (1 << 3)  # READ_FILE | READ_DIR
_LL_FS_READ_FILE = 1 << 2
_LL_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_LL_NET_TCP = 3  # BIND_TCP | CONNECT_TCP
_LL_SCOPE = 3  # ABSTRACT_UNIX_SOCKET | SIGNAL
_SYSTEM_LIB_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/dev/urandom", "/dev/null")
EXCLUDED_DIRS = ("site-packages", "dist-packages")


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def landlock(read_roots: tuple[str, ...]) -> tuple[bool, str]:
    """Restrict the file system to read-only `read_roots` (less site-packages) and the system libraries."""
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(_SYS_LANDLOCK[0], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return False, f"not available ({os.strerror(ctypes.get_errno())}): host files guarded by the audit hook only"
    fs_rights = _LL_FS_BY_ABI[max(k for k in _LL_FS_BY_ABI if k <= abi)]
    attr = struct.pack("<QQQ", fs_rights, _LL_NET_TCP if abi >= 4 else 0, _LL_SCOPE if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    buf = ctypes.create_string_buffer(attr, 24)
    ruleset = libc.syscall(_SYS_LANDLOCK[0], buf, ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return False, f"ruleset refused ({os.strerror(ctypes.get_errno())}): host files guarded by the audit hook only"
    try:
        for path, rights in _landlock_paths(read_roots):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = ctypes.create_string_buffer(struct.pack("<Qi", rights, fd), 12)
                libc.syscall(_SYS_LANDLOCK[1], ctypes.c_int(ruleset), ctypes.c_int(1), rule, ctypes.c_uint32(0))
            finally:
                os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            return False, f"no_new_privs refused ({os.strerror(ctypes.get_errno())})"
        if libc.syscall(_SYS_LANDLOCK[2], ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return False, f"restrict_self refused ({os.strerror(ctypes.get_errno())}): audit hook only"
    finally:
        os.close(ruleset)
    extras = (", no TCP" if abi >= 4 else "") + (", signals and abstract sockets scoped" if abi >= 6 else "")
    return True, f"ABI {abi}: read-only standard library and system libraries{extras}"


def _landlock_paths(read_roots: tuple[str, ...]) -> list[tuple[str, int]]:
    """(path, rights) rules: each standard-library root's entries but site-packages, the system library
    directories, and the shared objects the interpreter has mapped (libpython lives beside site-packages)."""
    rules: list[tuple[str, int]] = []
    for root in read_roots:
        if os.path.isdir(root):
            for name in os.listdir(root):
                if name not in EXCLUDED_DIRS:
                    path = os.path.join(root, name)
                    rules.append((path, _LL_FS_READ if os.path.isdir(path) else _LL_FS_READ_FILE))
            rules.append((root, 1 << 3))  # READ_DIR: the import system lists the root (no file reads beneath)
        elif os.path.exists(root):
            rules.append((root, _LL_FS_READ_FILE))
    rules += [(d, _LL_FS_READ) for d in _SYSTEM_LIB_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    rules += [(f, _LL_FS_READ_FILE) for f in _SYSTEM_FILES if os.path.exists(f)]
    rules += [(f, _LL_FS_READ_FILE) for f in _mapped_objects()]
    return rules


def _mapped_objects() -> list[str]:
    with open("/proc/self/maps") as maps:
        paths = {line.split(None, 5)[5].strip() for line in maps if line.count(" ") >= 5 and "/" in line}
    return sorted(p for p in paths if p.startswith("/") and ".so" in p and os.path.isfile(p))


# --- seccomp ------------------------------------------------------------------------------------------

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl)
_X86_64 = 0xC000003E
_DENY_X86_64 = {
    "creat": 85, "execve": 59, "execveat": 322, "fork": 57, "vfork": 58, "connect": 42, "bind": 49,
    "listen": 50, "tkill": 200, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438, "setrlimit": 160, "unlink": 87,
    "unlinkat": 263, "rename": 82, "renameat": 264, "renameat2": 316, "mkdir": 83, "mkdirat": 258,
    "rmdir": 84, "link": 86, "linkat": 265, "symlink": 88, "symlinkat": 266, "chmod": 90, "fchmod": 91,
    "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93, "lchown": 94, "fchownat": 260,
    "truncate": 76, "mknod": 133, "mknodat": 259, "utime": 132, "utimes": 235, "utimensat": 280,
    "futimesat": 261, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197,
    "lremovexattr": 198, "fremovexattr": 199, "mount": 165, "umount2": 166, "pivot_root": 155,
    "chroot": 161, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171,
    "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176, "finit_module": 313,
    "kexec_load": 246, "kexec_file_load": 320, "settimeofday": 164, "clock_settime": 227,
    "clock_adjtime": 305, "adjtimex": 159, "acct": 163, "quotactl": 179, "setns": 308, "unshare": 272,
    "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248,
    "request_key": 249, "name_to_handle_at": 303, "open_by_handle_at": 304, "fanotify_init": 300,
    "syslog": 103, "vhangup": 153, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "mount_setattr": 442, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "open_tree": 428,
    "move_mount": 429, "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114, "setgroups": 116,
    "setresuid": 117, "setresgid": 119, "setfsuid": 122, "setfsgid": 123, "ioprio_set": 251, "kcmp": 312,
    "process_madvise": 440, "uselib": 134, "lookup_dcookie": 212,
}  # fmt: skip
_FAST_ALLOW_X86_64 = (0, 1, 202, 45, 47, 7, 271, 23, 270, 232, 281, 3, 9, 11, 12, 14, 13, 39, 186, 5, 262, 8,
                      28, 10, 318, 61, 35, 230, 228, 19, 20, 17, 18, 72, 32, 33, 292, 293, 22)  # fmt: skip
_NR = {"open": 2, "openat": 257, "openat2": 437, "clone": 56, "clone3": 435, "socket": 41, "socketpair": 53,
       "sendto": 44, "kill": 62, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
       "prlimit64": 302, "setpriority": 141, "sched_setparam": 142, "sched_setscheduler": 144,
       "sched_setaffinity": 203, "sched_setattr": 314, "migrate_pages": 256, "move_pages": 279,
       "get_robust_list": 274, "ioctl": 16, "personality": 135}  # fmt: skip
_IOCTL_ALLOWED = (0x5401, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451, 0x540F)  # TCGETS TIOCGWINSZ FIONREAD FIONBIO...
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000


class _Bpf:
    """A tiny classic-BPF assembler: instructions with forward jumps to labels."""

    LD, JEQ, JSET, RET, AND = 0x20, 0x15, 0x45, 0x06, 0x54

    def __init__(self) -> None:
        self.code: list[tuple[int, object, object, int]] = []
        self.labels: dict[str, int] = {}

    def ld_nr(self) -> None:
        self.code.append((self.LD, 0, 0, 0))

    def ld_arg(self, index: int, high: bool = False) -> None:
        self.code.append((self.LD, 0, 0, 16 + 8 * index + (4 if high else 0)))

    def jeq(self, value: int, true: str | int = 0, false: str | int = 0) -> None:
        self.code.append((self.JEQ, true, false, value))

    def jset(self, mask: int, true: str | int = 0, false: str | int = 0) -> None:
        self.code.append((self.JSET, true, false, mask))

    def and_(self, mask: int) -> None:
        self.code.append((self.AND, 0, 0, mask))

    def ret(self, value: int) -> None:
        self.code.append((self.RET, 0, 0, value))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for pc, (op, true, false, k) in enumerate(self.code):
            jt = self.labels[true] - pc - 1 if isinstance(true, str) else true
            jf = self.labels[false] - pc - 1 if isinstance(false, str) else false
            out += struct.pack("<HBBI", op, jt, jf, k)
        return bytes(out)


def seccomp_program(own_pid: int) -> bytes:
    """The x86_64 filter described in the module docstring, as sock_filter instructions."""
    eperm, eacces, enosys = _RET_ERRNO | errno.EPERM, _RET_ERRNO | errno.EACCES, _RET_ERRNO | errno.ENOSYS
    bpf = _Bpf()
    bpf.code.append((_Bpf.LD, 0, 0, 4))  # arch
    bpf.jeq(_X86_64, 1, 0)
    bpf.ret(eperm)
    bpf.ld_nr()
    bpf.code.append((0x35, 0, 1, 0x40000000))  # JGE: the x32 ABI
    bpf.ret(eperm)
    for nr in _FAST_ALLOW_X86_64:
        bpf.jeq(nr, 0, 1)
        bpf.ret(_RET_ALLOW)
    for nr in sorted(_DENY_X86_64.values()):
        bpf.jeq(nr, 0, 1)
        bpf.ret(eperm)
    bpf.jeq(_NR["clone3"], 0, 1)
    bpf.ret(enosys)  # glibc falls back to clone(2), whose flags can be checked
    bpf.jeq(_NR["openat2"], 0, 1)
    bpf.ret(enosys)

    def rule(name: str, body) -> None:
        start = len(bpf.code)
        bpf.jeq(_NR[name], 0, 0)
        body()
        op, _, _, k = bpf.code[start]
        bpf.code[start] = (op, 0, len(bpf.code) - start - 1, k)
        bpf.ld_nr()

    def open_flags(arg: int):
        def body() -> None:
            bpf.ld_arg(arg)
            bpf.jset(_WRITE_FLAGS, 0, 1)
            bpf.ret(eacces)
            bpf.ret(_RET_ALLOW)

        return body

    def clone() -> None:
        bpf.ld_arg(0)
        bpf.jset(0x10000, 1, 0)  # CLONE_THREAD
        bpf.ret(eperm)
        bpf.ret(_RET_ALLOW)

    def unix_stream() -> None:
        bpf.ld_arg(0)
        bpf.jeq(1, 1, 0)  # AF_UNIX
        bpf.ret(eperm)
        bpf.ld_arg(1)
        bpf.and_(0xF)
        bpf.jeq(1, 1, 0)  # SOCK_STREAM
        bpf.ret(eperm)
        bpf.ret(_RET_ALLOW)

    def no_address() -> None:
        bpf.ld_arg(4)
        bpf.jeq(0, 1, 0)
        bpf.ret(eperm)
        bpf.ld_arg(4, high=True)
        bpf.jeq(0, 1, 0)
        bpf.ret(eperm)
        bpf.ret(_RET_ALLOW)

    def self_only(arg: int, allow_zero: bool):
        def body() -> None:
            bpf.ld_arg(arg)
            bpf.jeq(own_pid, 2 if allow_zero else 1, 0)
            if allow_zero:
                bpf.jeq(0, 1, 0)
            bpf.ret(eperm)
            bpf.ret(_RET_ALLOW)

        return body

    def prlimit() -> None:
        bpf.ld_arg(2)
        bpf.jeq(0, 1, 0)
        bpf.ret(eperm)
        bpf.ld_arg(2, high=True)
        bpf.jeq(0, 1, 0)
        bpf.ret(eperm)
        self_only(0, True)()

    def ioctl() -> None:
        bpf.ld_arg(1)
        for k, request in enumerate(_IOCTL_ALLOWED):
            bpf.jeq(request, len(_IOCTL_ALLOWED) - k, 0)
        bpf.ret(eperm)
        bpf.ret(_RET_ALLOW)

    def personality() -> None:
        bpf.ld_arg(0)
        bpf.jeq(0xFFFFFFFF, 1, 0)  # only the query
        bpf.ret(eperm)
        bpf.ret(_RET_ALLOW)

    rule("open", open_flags(1))
    rule("openat", open_flags(2))
    rule("clone", clone)
    rule("socket", unix_stream)
    rule("socketpair", unix_stream)
    rule("sendto", no_address)
    rule("kill", self_only(0, True))
    rule("tgkill", self_only(0, False))
    rule("rt_sigqueueinfo", self_only(0, False))
    rule("rt_tgsigqueueinfo", self_only(0, False))
    rule("prlimit64", prlimit)
    rule("setpriority", self_only(1, True))
    for name in ("sched_setparam", "sched_setscheduler", "sched_setaffinity", "sched_setattr"):
        rule(name, self_only(0, True))
    for name in ("migrate_pages", "move_pages", "get_robust_list"):
        rule(name, self_only(0, True))
    rule("ioctl", ioctl)
    rule("personality", personality)
    bpf.ret(_RET_ALLOW)
    return bpf.assemble()


def seccomp(own_pid: int) -> tuple[bool, str]:
    if platform.machine() != "x86_64" or sys.platform != "linux":
        return (
            False,
            f"not installed (no syscall table for {platform.machine()}): process and network guards are the audit hook's only",
        )
    libc = _libc()
    program = seccomp_program(own_pid)
    count = len(program) // 8
    filters = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("<HxxxxxxQ", count, ctypes.addressof(filters))
    fprog_buf = ctypes.create_string_buffer(fprog, len(fprog))
    if libc.prctl(38, 1, 0, 0, 0) != 0:
        return False, f"no_new_privs refused ({os.strerror(ctypes.get_errno())})"
    libc.syscall.restype = ctypes.c_long
    # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, prog): every thread of the process
    if libc.syscall(317, ctypes.c_uint(1), ctypes.c_uint(1), fprog_buf) != 0:
        return (
            False,
            f"filter refused ({os.strerror(ctypes.get_errno())}): process and network guards are the audit hook's only",
        )
    return True, f"{count}-instruction filter: no exec, fork, network, host writes or signals to other processes"


def drop_capabilities() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return True, "none held (not root)"
    libc = _libc()
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (EINVAL past the last capability)
    libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    header = ctypes.create_string_buffer(struct.pack("<Ii", 0x20080522, 0), 8)
    data = ctypes.create_string_buffer(bytes(24), 24)
    if libc.capset(header, data) != 0:
        return False, f"capset refused ({os.strerror(ctypes.get_errno())})"
    return True, "all dropped"


# --- the audit hook -----------------------------------------------------------------------------------

# raw memory or process access (ctypes, fork_exec, a fresh unguarded posix, subinterpreters without the
# hook), or host objects by name that no audit event covers (POSIX shared memory and semaphores)
DENIED_IMPORTS = frozenset(
    {"ctypes", "_ctypes", "_posixsubprocess", "posix", "_posixshmem", "_xxsubinterpreters",
     "_xxinterpchannels", "_ctypes_test", "_multiprocessing"}
)  # fmt: skip
_OS_EVENTS_ALLOWED = ("os.putenv", "os.unsetenv", "os.walk", "os.fwalk")
_NETWORK_EVENTS = ("socket.bind", "socket.connect", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                   "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo", "socket.gethostname",
                   "socket.sethostname", "socket.getservbyname", "socket.getservbyport", "syslog.openlog",
                   "syslog.syslog")  # fmt: skip
_SETATTR_GUARDED = ("__code__", "__defaults__", "__kwdefaults__")  # of the hook itself

# The hook is compiled from this text so that it looks up no global name: everything it uses is a
# parameter default (a tuple the script cannot change: replacing __defaults__ or __code__ is refused).
_HOOK_SOURCE = """
def _phone_audit_hook(event, args, _type=None, _str=None, _bytes=None, _int=None, _refuse=None, _len=None,
                      _repr=None, _roots=None, _denied_imports=None, _os_ok=None, _net=None, _setattr=None,
                      _write_flags=None, _excluded=None, _function=None, _own_code=None):
    if event == "open" or event == "os.listdir" or event == "os.scandir":
        path = args[0]
        if _type(path) is _int:
            return  # a descriptor the process already holds (stdio, or a file it was allowed to open)
        if _type(path) is _bytes:
            path = path.decode("utf-8", "surrogateescape")
        if _type(path) is not _str:
            raise _refuse(event + ": a path that is not a str, bytes or int is refused on the virtual phone")
        if event == "open":
            mode, flags = args[1], args[2]
            writing = (_type(flags) is _int and flags & _write_flags) or (
                _type(mode) is _str and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)
            )
            if writing:
                raise _refuse("writing host file " + _repr(path) + " refused: a script on the virtual phone "
                              "writes only the phone's files (/data, /sdcard, ...)")
        parts = path.split("/")
        inside = path[:1] == "/" and ".." not in parts and "." not in parts
        for part in parts:
            if part in _excluded:
                inside = False
        if inside:
            inside = False
            for root in _roots:
                if path == root or path[: _len(root) + 1] == root + "/":
                    inside = True
        if not inside:
            what = "reading host file " if event == "open" else "listing host directory "
            raise _refuse(what + _repr(path) + " refused: a script on the virtual phone sees only the phone's "
                          "files (and the Python standard library, read-only)")
        return
    if event == "import":
        name, filename = args[0], args[1]
        if _type(name) is not _str:
            raise _refuse("import of a module named by a non-string refused on the virtual phone")
        top = name.split(".")[0]
        if top in _denied_imports or top[:5] == "_test":
            raise _refuse("import of " + name + " refused on the virtual phone (it gives raw host access)")
        if filename is not None:
            if _type(filename) is not _str:
                raise _refuse("import of " + name + " from a path that is not a str refused")
            parts = filename.split("/")
            inside = filename[:1] == "/" and ".." not in parts
            for part in parts:
                if part in _excluded:
                    inside = False
            if inside:
                inside = False
                for root in _roots:
                    if filename[: _len(root) + 1] == root + "/":
                        inside = True
            if not inside:
                raise _refuse("import of " + name + " from host file " + _repr(filename) + " refused on the "
                              "virtual phone (only the standard library is installed)")
        return
    if event[:3] == "os.":
        if event in _os_ok:
            return
        raise _refuse(event + " refused: the virtual phone gives scripts no access to host files or processes")
    if event == "subprocess.Popen" or event == "pty.spawn":
        raise _refuse(event + " refused: host programs cannot run on the virtual phone "
                      "(subprocess.run, subprocess.check_output and os.system run phone shell commands)")
    if event[:7] == "ctypes.":
        raise _refuse(event + " refused: ctypes is not available on the virtual phone")
    if event == "socket.__new__":
        family, kind = args[1], args[2]
        if family == 1 and _type(kind) is _int and kind & 15 == 1:
            return  # unix stream socket pairs (asyncio, selectors); connect and bind stay refused
        raise _refuse("socket(family=" + _repr(family) + ") refused: network sockets are not available to "
                      "scripts on the virtual phone")
    if event in _net:
        raise _refuse(event + " refused: network access is not available to scripts on the virtual phone")
    if event == "mmap.__new__":
        if args[0] == -1:
            return
        raise _refuse("mmap of host file descriptor " + _repr(args[0]) + " refused on the virtual phone")
    if event == "fcntl.ioctl":
        raise _refuse("ioctl on host file descriptor " + _repr(args[0]) + " refused on the virtual phone "
                      "(open phone device files with os.open)")
    if event == "resource.setrlimit" or event == "resource.prlimit":
        raise _refuse(event + " refused: a script cannot change its resource limits on the virtual phone")
    if event == "gc.get_objects" or event == "gc.get_referrers" or event == "gc.get_referents":
        raise _refuse(event + " refused on the virtual phone")
    if event == "cpython.PyInterpreterState_New" or event == "sqlite3.load_extension":
        raise _refuse(event + " refused on the virtual phone")
    if event == "sys.addaudithook" or event == "sqlite3.enable_load_extension":
        raise _refuse(event + " refused on the virtual phone")
    if event == "object.__setattr__":
        if _type(args[0]) is _function and _type(args[1]) is _str and args[1] in _setattr and (
            args[0].__code__ is _own_code
        ):
            raise _refuse("changing the virtual phone's guard refused")
        return
    if event == "sqlite3.connect":
        if not (_type(args[0]) is _str and args[0] == ":memory:"):
            raise _refuse("sqlite3 needs a host file: only ':memory:' databases work on the virtual phone")
"""


def make_audit_hook(read_roots: tuple[str, ...]):
    """The hook, with its policy frozen into parameter defaults. It has no builtins and no globals: every
    name it uses is a parameter, so rebinding a builtin or a module attribute cannot change its answers."""
    namespace: dict = {"__builtins__": {}}
    exec(compile(_HOOK_SOURCE, "<virtual phone guard>", "exec"), namespace)
    hook = namespace.pop("_phone_audit_hook")
    hook.__defaults__ = (
        type, str, bytes, int, PermissionError, len, repr, tuple(read_roots), DENIED_IMPORTS,
        _OS_EVENTS_ALLOWED, _NETWORK_EVENTS, _SETATTR_GUARDED, _WRITE_FLAGS, EXCLUDED_DIRS, type(hook),
        hook.__code__,  # how the hook knows itself: a function running this code is the guard
    )  # fmt: skip
    return hook


# --- functions that raise no audit event --------------------------------------------------------------

_UNAUDITED_REFUSED = ("mkfifo", "mknod", "chroot", "setuid", "seteuid", "setreuid", "setresuid", "setgid",
                      "setegid", "setregid", "setresgid", "setgroups", "initgroups", "pidfd_open", "setpriority",
                      "sched_setaffinity", "sched_setscheduler", "sched_setparam", "setns", "unshare")  # fmt: skip


def _refusing(name: str):
    def refused(*args, **kwargs):
        raise PermissionError(errno.EPERM, f"os.{name} refused on the virtual phone")

    refused.__name__ = name
    return refused


def guard_unaudited(read_roots: tuple[str, ...], module_names=("posix", "os")) -> dict:
    """Replace the posix/os functions that raise no audit event; returns the guarded stat family (host
    paths only under `read_roots`) for pyboot's own wrappers to call."""
    import posix

    def inside(path) -> bool:
        if isinstance(path, int):
            return True
        text = os.fsdecode(path) if isinstance(path, (str, bytes)) else None
        if text is None or not text.startswith("/") or ".." in text.split("/"):
            return False
        if any(part in EXCLUDED_DIRS for part in text.split("/")):
            return False
        return any(text == root or text.startswith(root + "/") for root in read_roots)

    def guarded(name: str, real):
        def call(path, *args, **kwargs):
            if kwargs.get("dir_fd") is not None or not inside(path):
                raise PermissionError(errno.EACCES, f"os.{name} of a host path refused on the virtual phone", path)
            return real(path, *args, **kwargs)

        call.__name__ = name
        return call

    replaced = {name: guarded(name, getattr(posix, name)) for name in ("stat", "lstat", "readlink", "access")}
    replaced.update({name: _refusing(name) for name in _UNAUDITED_REFUSED if hasattr(posix, name)})
    for module in (sys.modules[m] for m in module_names):
        for name, func in replaced.items():
            if hasattr(module, name):
                setattr(module, name, func)
    signal.pidfd_send_signal = _refusing("pidfd_send_signal")
    return replaced


def stdlib_roots() -> tuple[str, ...]:
    """The interpreter's own standard library (sys.path of `python -I -S`), resolved."""
    roots = []
    for entry in sys.path:
        if entry and os.path.isabs(entry):
            real = os.path.realpath(entry)
            if real not in roots and not any(part in EXCLUDED_DIRS for part in real.split("/")):
                roots.append(real)
    return tuple(roots)


def confine(memory_bytes: int, open_files: int) -> list[tuple[str, bool, str]]:
    """Install every kernel-side layer; returns (layer, active, detail) for each (the hook comes later)."""
    roots = stdlib_roots()
    layers = {
        "rlimits": lambda: set_limits(memory_bytes, open_files),
        "landlock": lambda: landlock(roots),
        "seccomp": lambda: seccomp(os.getpid()),
        "capabilities": drop_capabilities,
    }
    report = []
    for name, install in layers.items():
        try:
            active, detail = install()
        except (OSError, AttributeError, ValueError) as exc:
            active, detail = False, f"failed: {exc}"
        report.append((name, active, detail))
    for module in [m for m in sys.modules if m in ("ctypes", "_ctypes") or m.startswith("ctypes.")]:
        del sys.modules[module]
    return report


def install_hook(read_roots: tuple[str, ...]) -> None:
    sys.addaudithook(make_audit_hook(read_roots))
