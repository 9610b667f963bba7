"""Shared pytest setup: make the repo root importable (CLIs run as `python pkg/x.py` from the root)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# With protobuf 7, `import onnx` before `import mindspore` breaks MindSpore's import ("Descriptors cannot be created
# directly"); test modules that only need onnx may be collected first, so settle the order here.
try:
    import mindspore  # noqa: F401,E402
except ImportError:  # the runtime's tests also run where only runtime/requirements.txt is installed
    pass
