"""The exceptions the export layer raises for problems a user can fix; CLIs print them as one `error:` line."""
from __future__ import annotations

from runtime.errors import UserError


class ExportError(UserError):
    """Base class: the export cannot produce a trustworthy ONNX file; the message says why in one line."""


class UnsupportedCellError(ExportError):
    """A Cell with no ONNX converter and no child Cells was reached while tracing (message names type and path)."""


class ParityError(ExportError):
    """onnxruntime's output differs from MindSpore's by more than the tolerance; nothing was written."""


class CalibrationError(ExportError):
    """The int8 calibration or check images are missing or unreadable."""
