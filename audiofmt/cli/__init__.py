"""audiofmt's command line: argument handling and printing only; the work is in the library.

One module per command group: convert (cli.convert), decode / info / roundtrip (cli.files),
bridge (cli.bridge); what they share is in cli.common. `main` is the console script.

Exit codes: 0 all good, 1 some inputs failed (the others were still converted), 2 usage error
(nothing was done), 128+N ended by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
Errors print as one line; -v adds the traceback. Outputs follow audiofmt.files.outputs' rules: never
over an input, never two jobs onto one file, an existing file only with -y.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..errors import AudioFormatError, UsageError
from . import bridge, convert, files
from .common import Progress, kernel_cache_cold, parse_duration
from .convert import _jobs as _jobs  # tests plan jobs without running them

__all__ = ["main", "build_parser", "parse_duration", "kernel_cache_cold", "Progress"]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors' exit code")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more detail (and tracebacks)")
    parser = argparse.ArgumentParser(prog="audiofmt", description="Audio for realtime voice APIs: convert, decode, inspect.")
    parser.add_argument("--version", action="version", version=f"audiofmt {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    convert.add_parser(commands, common)
    files.add_decode_info_parsers(commands, common)
    bridge.add_parser(commands, common)
    files.add_roundtrip_parser(commands, common)
    return parser


# what numba imports only for features audiofmt's kernels do not use: module -> the numba modules
# whose imports of it are hidden
_HIDDEN_FROM_NUMBA = {
    "scipy": frozenset({"numba", "numba.np.linalg"}),  # its version check; its BLAS probe
    "cffi.cparser": frozenset({"numba.core.typing.cffi_utils"}),  # cffi.FFI() for typing cffi functions
    # PyYAML (~15 ms), which numba's config imports only to read a .numba_config.yaml from the
    # working directory: hidden only when there is no such file (see _HideFromNumba.find_spec)
    "yaml": frozenset({"numba.core.config"}),
}
_NUMBA_CONFIG_FILE = ".numba_config.yaml"


class _HideFromNumba(importlib.abc.MetaPathFinder):
    """Hides SciPy, cffi's C parser and PyYAML from numba's own checks, and from nothing else.

    While numba initialises its CPU target (the first kernel load), numba.np.arraymath imports
    scipy.linalg.cython_blas only to learn whether np.dot & co. may be compiled (with SciPy
    installed: ~0.35 s and ~20 MB, a third of a short conversion), and numba's cffi support
    builds a cffi.FFI(), which imports pycparser (~40 ms). audiofmt's kernels use neither BLAS
    nor cffi functions. (`import numba` also imports scipy to check its version: ~25 ms, and
    PyYAML to be able to read a .numba_config.yaml, which is left to it when that file exists.)
    Any other import of these modules in the process goes through as usual.
    """

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        top = fullname.partition(".")[0]
        hidden_from = _HIDDEN_FROM_NUMBA.get(top) or _HIDDEN_FROM_NUMBA.get(fullname)
        if hidden_from is not None and not (top == "yaml" and os.path.exists(_NUMBA_CONFIG_FILE)):
            frame: Any = sys._getframe(1)
            for _ in range(40):  # e.g. numba.np.linalg.ensure_blas -> the import machinery -> here
                if frame is None:
                    break
                if frame.f_globals.get("__name__") in hidden_from:
                    raise ModuleNotFoundError(f"{fullname} is not used by audiofmt's kernels (hidden from numba's checks)")
                frame = frame.f_back
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (argv None: sys.argv[1:], the console script, which then also ends the
    process as soon as a file command is done: see _exit_now)."""
    args = build_parser().parse_args(argv)
    hide = None if "numba.np.arraymath" in sys.modules else _HideFromNumba()  # numba initialised: too late
    if hide is not None:
        sys.meta_path.insert(0, hide)
    from ..files.outputs import Terminated, signals_raise

    try:
        code = _run(args, signals_raise)
    except Terminated as exc:
        print(f"audiofmt: {exc}", file=sys.stderr)
        code = 128 + exc.signum
    finally:
        if hide is not None:
            sys.meta_path.remove(hide)
    if argv is None and getattr(args, "signals", False):  # the file commands (not the bridge service)
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End the process now, once stdout and stderr are flushed, skipping the interpreter's
    teardown: after numba has initialised, tearing it and LLVM down takes 0.15-0.4 s, longer
    than a short conversion. Every output is complete by then (atomic outputs renamed, pools
    and the reading thread joined, sources closed); nothing else is left to run at exit, but
    the temporary file of an output whose cleanup a second signal cut short, removed here."""
    from ..files.outputs import TERMINATING_SIGNALS, remove_unfinished_outputs

    for sig in (signal.SIGINT, *TERMINATING_SIGNALS):
        signal.signal(sig, signal.SIG_IGN)
    remove_unfinished_outputs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said
            pass
    os._exit(code)


def _run(args: argparse.Namespace, signals_raise: Any) -> int:
    try:
        if getattr(args, "signals", False):
            with signals_raise():  # SIGTERM/SIGHUP end the command like Ctrl-C: temp files removed
                return int(args.run(args))
        return int(args.run(args))
    except AudioFormatError as exc:
        if args.verbose:
            traceback.print_exc()
        message = " ".join(line.strip() for line in str(exc).splitlines())  # a SessionError: one problem a line
        print(f"audiofmt: error: {message}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except BrokenPipeError:  # stdout's reader is gone (`| head`): stop quietly, as a pipe expects
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    except OSError as exc:  # the file system said no (permissions, a vanished file, ...): one line
        if args.verbose:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"audiofmt: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("audiofmt: interrupted", file=sys.stderr)
        return 130
