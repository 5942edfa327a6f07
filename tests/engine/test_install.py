"""Installing Continuo, and the tests' own temporary home.

The temporary home (tests/conftest.py): every test, and every process a test starts,
sees XDG folders in a temporary folder, so a style or model card the user keeps in
their own folders never changes what a test sees, and a test never writes there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.models.library import user_models_dir

REPO = Path(__file__).resolve().parents[2]
TINY_ABC = """X:1
T:Up
M:4/4
L:1/4
K:C
C D E F|G A B c|c B A G|F E D C|]

X:2
T:Down
M:3/4
L:1/4
K:G
G A B|d2 B|A G F|G3|]
"""


def _temporary_home() -> Path:
    data = Path(os.environ["XDG_DATA_HOME"])
    assert data.name == "data" and data.parent.name.startswith("continuo-test-home-")
    return data.parent


def _under(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def test_the_user_folders_are_in_a_temporary_home():
    home = _temporary_home()
    for variable in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        assert _under(Path(os.environ[variable]), home), variable
    assert "CONTINUO_MODELS_DIR" not in os.environ
    assert "CONTINUO_RECOVERY_DIR" not in os.environ
    assert _under(user_models_dir(), home)
    assert not _under(user_models_dir(), Path.home() / ".local")


def test_a_started_process_keeps_its_settings_and_models_in_the_temporary_home():
    """QSettings (as the app names it) and the models folder, in a child process."""
    code = ("from PySide6.QtCore import QCoreApplication, QSettings\n"
            "app = QCoreApplication([])\n"
            "app.setOrganizationName('Continuo'); app.setApplicationName('Continuo')\n"
            "print(QSettings().fileName())\n"
            "from engine.models.library import user_models_dir\n"
            "print(user_models_dir())\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    settings, models = result.stdout.split()
    home = _temporary_home()
    assert _under(Path(settings), home / "config"), settings
    assert _under(Path(models), home / "data"), models


def test_a_style_learnt_in_a_test_is_saved_in_the_temporary_home(tmp_path):
    folder = tmp_path / "my tunes"
    folder.mkdir()
    (folder / "two.abc").write_text(TINY_ABC)
    real_styles = Path.home() / ".local" / "share" / "continuo" / "models" / "styles"
    before = sorted(real_styles.glob("*")) if real_styles.is_dir() else []
    out = tmp_path / "out.mid"
    result = subprocess.run([sys.executable, "main.py", "generate", "--style", str(folder),
                             "--bars", "1", "-o", str(out)], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    saved = sorted((_temporary_home() / "data" / "continuo" / "models" / "styles").glob(
        "my-tunes-*.json"))
    assert len(saved) == 1
    after = sorted(real_styles.glob("*")) if real_styles.is_dir() else []
    assert after == before
