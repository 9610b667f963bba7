"""The one exception type the runtime raises for problems a user can fix (bad input, model, options, output)."""


class ConversionError(Exception):
    """A user-facing problem; the CLIs print it as a single `error: ...` line and exit with status 2."""
