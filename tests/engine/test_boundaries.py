"""The engine is the room where the music lives: it never imports Qt or TensorFlow."""

from __future__ import annotations

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
