"""The engine is the room where the music lives: it never imports Qt or TensorFlow, nor
anything from the GUI or training."""

from __future__ import annotations

import ast
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[2]


def test_engine_imports_no_qt_and_no_tensorflow():
    modules = [f"engine.{m.name}" for m in pkgutil.iter_modules(engine.__path__)]
    code = ("import sys, importlib\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "bad = {'PySide6', 'tensorflow', 'keras', 'tf2onnx'} & "
            "{m.split('.')[0] for m in sys.modules}\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


FORBIDDEN_IN_ENGINE = {"gui", "training", "PySide6", "tensorflow", "keras", "tf2onnx"}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``, at any depth (inside functions and
    ``if TYPE_CHECKING:`` too), relative imports resolved, plus the literal names given
    to ``importlib.import_module`` and ``__import__``."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                if node.level else []
            found.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
        elif isinstance(node, ast.Call) and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) \
                and (getattr(node.func, "attr", None) == "import_module"
                     or getattr(node.func, "id", None) == "__import__"):
            found.append((node.lineno, node.args[0].value))
    return found


def test_no_engine_module_imports_the_gui_or_training():
    """Read, not run: a lazy import in a function or a TYPE_CHECKING block counts too."""
    files = sorted(ROOT.glob("engine/**/*.py"))
    assert len(files) > 20  # the scan sees the engine
    offenders = [f"{path.relative_to(ROOT)}:{line}: {module}"
                 for path in files for line, module in _imported_modules(path)
                 if module.split(".")[0] in FORBIDDEN_IN_ENGINE]
    assert not offenders, offenders


def test_the_import_scan_sees_every_kind_of_import(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    module = tmp_path / "engine" / "live" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("import gui.files\nfrom training import corpus\nfrom . import player\n"
                      "from ..song import Note\ndef f():\n    from PySide6 import QtCore\n"
                      "    importlib.import_module('keras')\n")
    assert sorted(m for _, m in _imported_modules(module)) == sorted([
        "gui.files", "training", "engine.live", "engine.song", "PySide6", "keras"])


def test_music21_is_not_imported_at_engine_import():
    """music21 costs seconds to import: only opening a score file pays for it."""
    code = ("import sys, engine.formats, engine.encodings, engine.song\n"
            "assert 'music21' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_main_help_describes_the_modes():
    out = subprocess.run([sys.executable, "main.py", "--help"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert "gui" in out and "FILE" in out


def test_no_pickle_or_eval_in_the_code():
    offenders = []
    for path in list(ROOT.glob("engine/**/*.py")) + list(ROOT.glob("gui/**/*.py")) + \
            list(ROOT.glob("training/**/*.py")) + [ROOT / "main.py"]:
        text = path.read_text()
        # Qt's dialog.exec() is fine; the builtins eval()/exec() are not
        for pattern in (r"\bimport pickle\b", r"\bpickle\.load", r"(?<![.\w])eval\(",
                        r"(?<![.\w])exec\(", r"allow_pickle\s*=\s*True"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert not offenders, offenders
