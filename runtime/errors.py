"""The project's user-error type and its one CLI error boundary.

`UserError` is the base of every error a user can fix (bad input, model, config, options, output); each layer
subclasses it (ConversionError here, ExportError, ConfigError, CheckpointError, ManganimeError, ...). Every CLI
runs its `main` through `run_main`, which prints such an error as one `error: ...` line and exits with status 2.
Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys
from typing import Callable, NoReturn, Optional, Sequence

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


class UserError(Exception):
    """A problem the user can fix; CLIs print its first line as `error: <line>` and exit with status 2."""


class ConversionError(UserError):
    """A user-facing problem of the runtime (bad input, model, options or output)."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of `str(exc)`, or the type name when the message is empty."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def run_main(main: Callable[[Optional[Sequence[str]]], Optional[int]], argv: Optional[Sequence[str]] = None
             ) -> NoReturn:
    """Run `main(argv)` and exit with its return value (None → 0).

    UserError → `error: <first line>` on stderr, exit 2; Ctrl-C → `error: interrupted`, exit 130. Other
    exceptions propagate (a traceback means a bug, not a user mistake).
    """
    try:
        code = main(argv)
    except UserError as exc:
        print(f"error: {first_line(exc)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code or 0)
