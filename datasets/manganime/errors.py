"""The one exception type of the manga → anime tooling; CLIs print it as `error: ...` and exit with 2."""


class ManganimeError(Exception):
    """Bad input or a failed step, with a one-line message meant for the user."""
