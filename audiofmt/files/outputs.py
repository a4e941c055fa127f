"""Outputs that never lose what the user had: the checks before a command writes anything, the
atomic write, and the free-space guard.

The rules (library and command line alike):

- An output never replaces an input. Paths are compared resolved (symlinks, "./x" against "x")
  and by inode (hard links: `os.path.samefile`).
- Two jobs of one command never share an output; `plan_outputs` finds it before any work starts
  and names both inputs.
- An existing output is replaced only when the policy says "overwrite"; "skip" leaves it (and
  its job) alone; "error" refuses.
- A regular file is written to a hidden temporary file beside it and renamed into place when
  complete; an error, a signal or Ctrl-C removes the temporary file. A symlink to a regular
  file is followed: the file it points to is replaced, the link stays. A character device or a
  FIFO (/dev/null, /dev/stdout, a named pipe) is written straight to: no temporary file, no
  rename, nothing replaced. Block devices, sockets and directories are refused.
- Before each block is written to a regular file, the free space of its file system is checked:
  writing stops with an error while a reserve is still free (2 % of the file system, at most
  64 MiB), so the disk never fills.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import stat
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Literal, Union

from ..errors import OutputError, OutputExistsError

__all__ = [
    "OVERWRITE_POLICIES",
    "RESERVE_MAX_BYTES",
    "TERMINATING_SIGNALS",
    "OverwritePolicy",
    "SpaceGuard",
    "Terminated",
    "atomic_output",
    "plan_outputs",
    "remove_unfinished_outputs",
    "same_file",
    "signals_raise",
]

PathLike = Union[str, "os.PathLike[str]"]
OverwritePolicy = Literal["error", "skip", "overwrite"]
OVERWRITE_POLICIES: tuple[OverwritePolicy, ...] = ("error", "skip", "overwrite")
RESERVE_MAX_BYTES = 64 << 20  # the free space kept: 2 % of the file system, at most this
_RESERVE_DIVISOR = 50
# write errors that are about the output, reported with the output's name (not its temp file)
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EPIPE, errno.EROFS})
# paths that name an already open descriptor: written through, never renamed over
_FD_PATHS = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/")
# temporary files of this process's atomic_output blocks, from creation until published or removed
_unfinished: set[str] = set()

_Identity = tuple[str, tuple[int, int] | None]


def _identity(path: str) -> _Identity:
    """The resolved path, and (device, inode) when the file exists."""
    real = os.path.realpath(path)
    try:
        st = os.stat(path)
    except OSError:
        return real, None
    return real, (st.st_dev, st.st_ino)


def _same(a: _Identity, b: _Identity) -> bool:
    return a[0] == b[0] or (a[1] is not None and a[1] == b[1])


class _IdentityIndex:
    """The first of many identities that is _same as a given one, by dict lookups."""

    def __init__(self) -> None:
        self.by_path: dict[str, int] = {}
        self.by_inode: dict[tuple[int, int], int] = {}

    def add(self, ident: _Identity, index: int) -> None:
        self.by_path.setdefault(ident[0], index)
        if ident[1] is not None:
            self.by_inode.setdefault(ident[1], index)

    def first(self, ident: _Identity) -> int | None:
        hits = [self.by_path.get(ident[0]), None if ident[1] is None else self.by_inode.get(ident[1])]
        found = [h for h in hits if h is not None]
        return min(found) if found else None


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name one file: resolved paths equal, or the same inode (hard links)."""
    return _same(_identity(os.fspath(a)), _identity(os.fspath(b)))


def _is_stream(path: str) -> bool:
    """A character device or FIFO (symlinks followed), or a path naming an open descriptor."""
    if path.startswith(_FD_PATHS):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _destination_problem(path: str) -> str | None:
    """Why `path` cannot be written at all, or None."""
    if _is_stream(path):
        return None
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        return f"cannot use it ({exc.strerror})"
    if mode is not None:
        if stat.S_ISDIR(mode):
            return "is a directory"
        if not stat.S_ISREG(mode):
            return "is a block device or socket; outputs are regular files, character devices or FIFOs"
        return None
    parent = os.path.dirname(os.path.realpath(path)) or "."
    if not os.path.isdir(parent):
        return f"the directory {os.path.dirname(path) or parent!r} does not exist"
    return None


def plan_outputs(pairs: Sequence[tuple[str, str]], overwrite: OverwritePolicy = "error") -> list[bool]:
    """Check the (input, output) pairs of one command before any work; per pair, whether to run it.

    Raises OutputError when an output would replace any of the inputs, when two pairs share an
    output (naming both inputs), when an output cannot be written (missing directory, a
    directory, a block device), and OutputExistsError for an existing output under "error".
    Under "skip" an existing output gives False. "-" (stdin/stdout) is never checked.
    Character devices and FIFOs are written to, not replaced, so they never count as existing.
    """
    if overwrite not in OVERWRITE_POLICIES:
        raise OutputError(f"overwrite must be one of {', '.join(OVERWRITE_POLICIES)}; got {overwrite!r}")
    inputs = [(src, _identity(src)) for src, _ in pairs if src != "-"]
    input_index = _IdentityIndex()
    for i, (_, ident) in enumerate(inputs):
        input_index.add(ident, i)
    claimed: list[tuple[_Identity, str]] = []
    claimed_index = _IdentityIndex()  # in linear time for any number of pairs
    run = []
    for src, dst in pairs:
        if dst == "-":
            run.append(True)
            continue
        problem = _destination_problem(dst)
        if problem:
            raise OutputError(f"{dst}: {problem}")
        ident = _identity(dst)
        hit = input_index.first(ident)
        if hit is not None:
            other = inputs[hit][0]
            whose = "" if other == src else f" (the output of {src})"
            raise OutputError(f"{dst}{whose} would replace the input {other}; choose another output name or directory")
        hit = claimed_index.first(ident)
        if hit is not None:
            raise OutputError(
                f"{claimed[hit][1]} and {src} would both be written to {dst}; convert them with separate -o names"
            )
        claimed_index.add(ident, len(claimed))
        claimed.append((ident, src))
        if os.path.lexists(dst) and not _is_stream(dst):
            if overwrite == "error":
                raise OutputExistsError(f"{dst} exists; not replaced (use -y/--overwrite to replace, -n to skip)")
            run.append(overwrite == "overwrite")
        else:
            run.append(True)
    return run


@contextmanager
def atomic_output(path: PathLike, *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """A binary file that appears at `path` only when the block completes; "-" is stdout.

    A regular file is written to a hidden temporary file in the same directory and renamed over
    `path` at the end (over the file a symlink points to, keeping the link); any exception,
    KeyboardInterrupt and signals turned into exceptions included, removes the temporary file.
    With `overwrite=False` an existing file is never replaced, even one created meanwhile
    (OutputExistsError). A character device or FIFO is opened and written directly.
    Errors name `path`, never the temporary file.
    """
    name = os.fspath(path)
    if name == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    problem = _destination_problem(name)
    if problem:
        raise OutputError(f"{name}: {problem}")
    if _is_stream(name):
        try:
            fd = os.open(name, os.O_WRONLY)  # no O_TRUNC, no rename: a FIFO waits for its reader here
        except OSError as exc:
            raise OutputError(f"{name}: cannot write ({exc.strerror})") from None
        try:
            with os.fdopen(fd, "wb") as out:
                yield out
                out.flush()
        except OSError as exc:
            if exc.errno in _OUTPUT_ERRNOS:
                raise OutputError(f"{name}: cannot write ({exc.strerror})") from None
            raise
        return
    final = os.path.realpath(name) if os.path.islink(name) else name
    target = Path(final)
    tmp = str(target.parent / f".{target.name}.{secrets.token_hex(6)}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    except OSError as exc:
        raise OutputError(f"{name}: cannot write ({exc.strerror})") from None
    _unfinished.add(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
        _publish(tmp, final, name, overwrite)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _unfinished.discard(tmp)
        if isinstance(exc, OSError) and exc.errno in _OUTPUT_ERRNOS:
            raise OutputError(f"{name}: cannot write ({exc.strerror})") from None
        raise
    _unfinished.discard(tmp)


def remove_unfinished_outputs() -> None:
    """Remove the temporary file of every atomic_output block of this process that has neither
    published nor removed it: the last step of a process that ends on a signal, since a second
    signal (or Ctrl-C) can cut a block's own cleanup short. Only for a process about to end:
    another thread's block still writing would lose its temporary file."""
    for tmp in list(_unfinished):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _unfinished.discard(tmp)


def _publish(tmp: str, final: str, name: str, overwrite: bool) -> None:
    """Move the finished temporary file into place; without `overwrite`, never over a file."""
    try:
        if overwrite:
            os.replace(tmp, final)
            return
        try:
            os.link(tmp, final)  # fails if `final` exists, atomically
        except FileExistsError:
            raise OutputExistsError(f"{name} exists; not replaced (use -y/--overwrite to replace it)") from None
        except OSError:  # a file system without hard links: check, then rename
            if os.path.lexists(final):
                raise OutputExistsError(f"{name} exists; not replaced (use -y/--overwrite to replace it)") from None
            os.replace(tmp, final)
            return
        os.unlink(tmp)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{name}: cannot write ({exc.strerror})") from None


class SpaceGuard:
    """Stops writing to a regular file before its file system fills.

    `check(n_bytes)` raises OutputError if writing `n_bytes` more would leave less than the
    reserve free: 2 % of the file system, at most RESERVE_MAX_BYTES (64 MiB). Outputs that are
    not regular files (devices, pipes, stdout on a terminal) are not checked.
    """

    def __init__(self, out: BinaryIO, name: str) -> None:
        self.name = name
        self.fd: int | None = None
        try:
            fd = out.fileno()
            if stat.S_ISREG(os.fstat(fd).st_mode):
                self.fd = fd
        except (OSError, AttributeError, ValueError):
            pass

    def check(self, n_bytes: int) -> None:
        if self.fd is None:
            return
        vfs = os.fstatvfs(self.fd)
        free = vfs.f_bavail * vfs.f_frsize
        reserve = min(RESERVE_MAX_BYTES, vfs.f_blocks * vfs.f_frsize // _RESERVE_DIVISOR)
        if free - n_bytes < reserve:
            raise OutputError(
                f"{self.name}: stopped before the disk fills: {free / 1e6:.1f} MB free, {n_bytes / 1e6:.1f} MB to "
                f"write, and {reserve / 1e6:.1f} MB are kept free"
            )


class Terminated(BaseException):
    """A signal that ends the command (SIGTERM, SIGHUP), raised in the main thread like
    KeyboardInterrupt so every `with` block, atomic_output's included, cleans up."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"terminated by {signal.Signals(signum).name}")


TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _raise_terminated(signum: int, _frame: object) -> None:
    for sig in TERMINATING_SIGNALS:  # the first signal decides; a second must not cut the cleanup short
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block (main thread only), SIGTERM and SIGHUP raise Terminated, once: later
    ones are ignored until the block ends and restores the previous handlers."""
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in TERMINATING_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
