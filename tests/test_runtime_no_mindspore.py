"""runtime/ must run where MindSpore is not installed: no module under it may import mindspore."""
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime"


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a file imports (import x.y / from x.y import z / __import__('x'))."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
              in ("__import__", "import_module") and node.args and isinstance(node.args[0], ast.Constant)):
            names.add(str(node.args[0].value).split(".")[0])
    return names


def test_scanner_sees_mindspore_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom mindspore import nn\nimportlib.import_module('mindspore.ops')\n")
    assert imported_modules(sample) == {"os", "mindspore"}


def test_no_runtime_file_imports_mindspore():
    files = sorted(RUNTIME.rglob("*.py"))
    assert len(files) >= 8, "runtime/ modules not found"
    offenders = [str(f.relative_to(ROOT)) for f in files
                 if imported_modules(f) & {"mindspore", "mindspore_impl", "export"}]
    assert offenders == []


def test_importing_the_runtime_loads_no_mindspore():
    modules = sorted(f"runtime.{f.stem}" for f in RUNTIME.glob("*.py") if f.stem != "__init__")
    code = ("import importlib, json, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('mindspore', 'mindspore_impl', 'runtime'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "runtime.video" in loaded and "runtime.session" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("mindspore", "mindspore_impl")]
