"""The project's user-error type and its one CLI error boundary.

`UserError` is the base of every error a user can fix (bad input, model, config, options, output); each layer
subclasses it (ConversionError here, ExportError, ConfigError, CheckpointError, ManganimeError, ...). Every CLI
runs its `main` through `run_main`, which prints such an error as one `error: ...` line and exits with status 2.
Anything else is a bug and keeps its traceback.

Stop signals: while `main` runs, SIGINT, SIGTERM and SIGHUP all raise `Interrupted` (a KeyboardInterrupt) in the
main thread, so a `kill`, a closed terminal or a job scheduler's stop unwinds like Ctrl-C: every `finally` and
`except BaseException` cleanup runs (runtime.atomic removes its temp files, the video pipeline stops its threads),
then one `error: interrupted` line and exit status 128 + the signal number, as shells report it.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Callable, Iterator, NoReturn, Optional, Sequence

EXIT_USER_ERROR = 2
EXIT_SKIPPED = 1  # a batch command finished but skipped unreadable inputs (each reported on its own line)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class UserError(Exception):
    """A problem the user can fix; CLIs print its first line as `error: <line>` and exit with status 2."""


class ConversionError(UserError):
    """A user-facing problem of the runtime (bad input, model, options or output)."""


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived (`signum`); raised in the main thread so that cleanup code runs before the exit."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of `str(exc)`, or the type name when the message is empty."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def _raise_interrupted(signum, frame) -> None:
    # Later stop signals are ignored: they would interrupt the very cleanup (temp removal, thread joins) that the
    # first one started. The cleanup is short and bounded; SIGKILL still ends a process that hangs in it.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM/SIGHUP raise `Interrupted`; the previous handlers come back afterwards.
    Signal handlers can only be set from the main thread; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def interrupted_status(exc: KeyboardInterrupt) -> tuple[int, str]:
    """(exit status, message) for an interrupt: Ctrl-C (or a bare KeyboardInterrupt) and the other signals."""
    signum = getattr(exc, "signum", signal.SIGINT)
    message = "interrupted" if signum == signal.SIGINT else f"interrupted by {signal.Signals(signum).name}"
    return 128 + signum, message


def run_main(main: Callable[[Optional[Sequence[str]]], Optional[int]], argv: Optional[Sequence[str]] = None
             ) -> NoReturn:
    """Run `main(argv)` and exit with its return value (None → 0).

    UserError → `error: <first line>` on stderr, exit 2; Ctrl-C, SIGTERM or SIGHUP → `error: interrupted ...`,
    exit 128 + signal (130 for Ctrl-C), after the cleanup the interrupt unwound through. Other exceptions
    propagate (a traceback means a bug, not a user mistake).
    """
    with signals_as_interrupts():
        try:
            code = main(argv)
        except UserError as exc:
            print(f"error: {first_line(exc)}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt as exc:
            status, message = interrupted_status(exc)
            print(f"error: {message}", file=sys.stderr)
            sys.exit(status)
    sys.exit(code or 0)
