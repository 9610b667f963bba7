"""The one exception type of the manga → anime tooling; CLIs print it as `error: ...` and exit with 2."""
from __future__ import annotations

from runtime.errors import UserError


class ManganimeError(UserError):
    """Bad input or a failed step, with a one-line message meant for the user."""
