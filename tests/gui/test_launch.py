"""Starting Continuo: scripts/launch.sh sets up only when it must, ``pip install`` gives a
``continuo`` command, and CONTINUO_QUIT_AFTER_SHOW leaves once the window is painted."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "scripts" / "launch.sh"


@pytest.fixture
def fake_venv(tmp_path):
    """A 'virtual environment' whose python logs its arguments, then runs the real one."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "python.log"
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return venv, log


def bash(script: str, venv: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "CONTINUO_VENV": str(venv), **env}
    return subprocess.run(["bash", "-c", script], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=60)


def write_stamp(venv: Path) -> None:
    result = bash(f'source "{LAUNCH}"; setup_stamp > "$CONTINUO_VENV/.continuo-setup"', venv)
    assert result.returncode == 0, result.stderr


def test_the_setup_is_current_only_with_a_matching_stamp(fake_venv):
    venv, _ = fake_venv
    check = f'source "{LAUNCH}"; setup_is_current && echo current || echo stale'
    assert bash(check, venv).stdout.strip() == "stale"  # no stamp yet
    write_stamp(venv)
    assert bash(check, venv).stdout.strip() == "current"
    stamp = venv / ".continuo-setup"
    stamp.write_text(stamp.read_text().replace("pyproject.toml", "pyproject.toml.old"))
    assert bash(check, venv).stdout.strip() == "stale"  # pyproject.toml changed since
    write_stamp(venv)
    (venv / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")  # the install is broken
    assert bash(check, venv).stdout.strip() == "stale"


def test_launch_skips_the_setup_when_the_stamp_matches(fake_venv):
    venv, log = fake_venv
    write_stamp(venv)
    result = bash(f'bash "{LAUNCH}" --help', venv)
    assert result.returncode == 0, result.stderr
    assert "usage: continuo" in result.stdout
    calls = log.read_text().splitlines()
    assert not any("pip" in call for call in calls), calls
    assert calls[-1] == "main.py --help"
    assert "system-deps" not in result.stderr


def test_pip_install_gives_a_continuo_command():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["continuo"].partition(":")
    assert module == "main" and function == "main"
    import main

    assert callable(main.main)
    with pytest.raises(SystemExit) as leaving:
        main.main(["--help"])
    assert leaving.value.code == 0


def test_quit_after_show_leaves_once_the_window_is_painted(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CONTINUO_QUIT_AFTER_SHOW": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data"),
           "CONTINUO_RECOVERY_DIR": str(tmp_path / "recovery"), "CONTINUO_RESTORE": "no"}
    result = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
