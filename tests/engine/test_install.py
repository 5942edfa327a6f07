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
    styles = _temporary_home() / "data" / "continuo" / "models" / "styles"
    try:
        assert result.returncode == 0, result.stderr[-2000:]
        saved = sorted(styles.glob("my-tunes-*.json"))
        assert len(saved) == 1
        after = sorted(real_styles.glob("*")) if real_styles.is_dir() else []
        assert after == before
    finally:  # the session's home is every later test's: leave no style listed there
        for path in styles.glob("my-tunes-*"):
            path.unlink()


# ---- a wheel that is the whole app -------------------------------------------------
import json  # noqa: E402
import shutil  # noqa: E402
import sysconfig  # noqa: E402

import mido  # noqa: E402
import pytest  # noqa: E402

# what setup.py reads to build the wheel; nothing else of the checkout is copied
BUILD_FILES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "main.py")
BUILD_FOLDERS = ("engine", "gui", "training", "assets")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "cache", "checkpoints", "runs")
SHIPPED_CARDS = sorted(p.stem for p in (REPO / "models").glob("*.json"))


def _setuptools_builds_the_wheel() -> bool:
    try:
        from importlib.metadata import version

        return int(version("setuptools").split(".")[0]) >= 77
    except Exception:  # noqa: BLE001 - any doubt: skip, and say why
        return False


def _run(args, cwd, env, timeout=300):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-3000:])
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from a copy of the checkout's sources, installed into a fresh
    virtual environment with no access to the checkout; the third-party packages come
    from this environment's site-packages (a .pth naming that folder, whose own .pth
    files, the editable install's finder among them, Python then does not run)."""
    if not _setuptools_builds_the_wheel():
        pytest.skip("building the wheel offline needs setuptools>=77 in this environment "
                    "(the test extra installs it)")
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in BUILD_FILES:
        shutil.copy2(REPO / name, src / name)
    for name in BUILD_FOLDERS:
        shutil.copytree(REPO / name, src / name, ignore=SKIP)
    (src / "models").mkdir()
    for path in (REPO / "models").iterdir():
        if path.is_file():
            shutil.copy2(path, src / "models" / path.name)
    # the sub-folders the wheel ships: the suggested chords' progression model and the
    # drum style prior
    for folder in ("chords", "drums"):
        shutil.copytree(REPO / "models" / folder, src / "models" / folder, ignore=SKIP)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_NO_INDEX"] = "1"  # never the network
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
          "-w", tmp / "dist", src], cwd=tmp, env=env)
    wheel, = (tmp / "dist").glob("continuo-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp, env=env)
    python = venv / "bin" / "python"
    site_packages = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                             "['purelib'])"], cwd=tmp, env=env).stdout.strip())
    ours = Path(sysconfig.get_paths()["purelib"])
    (site_packages / "continuo_test_dependencies.pth").write_text(f"{ours}\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
          wheel], cwd=tmp, env=env)
    elsewhere = tmp / "elsewhere"  # no checkout here or above that Python would see
    elsewhere.mkdir()
    return {"wheel": wheel, "venv": venv, "python": python, "cwd": elsewhere, "env": env,
            "continuo": venv / "bin" / "continuo", "site": site_packages, "src": src,
            "dependencies": ours}


@pytest.mark.slow
def test_the_wheel_holds_the_models_seed_icons_presets_and_soundfont(installed):
    import zipfile

    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for card in SHIPPED_CARDS:
        assert f"continuo_data/models/{card}.json" in names
        for graph in json.loads((REPO / "models" / f"{card}.json").read_text())["files"].values():
            assert f"continuo_data/models/{graph}" in names
    assert "continuo_data/assets/default_seed.mid" in names
    assert "continuo_data/assets/continuo.svg" in names  # the desktop entry's icon
    icons = {p.name for p in (REPO / "assets" / "icons").glob("*.svg")}
    assert icons and all(f"continuo_data/assets/icons/{n}" in names for n in icons)
    presets = {p.name for p in (REPO / "assets" / "presets").glob("*.json")}
    assert presets and all(f"continuo_data/assets/presets/{n}" in names for n in presets)
    for name in ("TimGM6mb.sf2", "LICENSE-GPL-2.txt", "README.md"):
        assert f"continuo_data/assets/soundfont/{name}" in names
    assert "engine/generation/memory_mixing.json" in names
    for name in ("styles.json", "styles.npz"):  # the drum style prior
        assert f"continuo_data/models/drums/{name}" in names
    assert not any(n.startswith(("continuo_data/models/keras", "tests/")) for n in names)
    size_mb = installed["wheel"].stat().st_size / 1e6
    print(f"\n{installed['wheel'].name}: {size_mb:.1f} MB")
    assert size_mb < 100


@pytest.mark.slow
def test_the_installed_app_runs_from_a_folder_with_no_checkout(installed):
    python, cwd, env = installed["python"], installed["cwd"], installed["env"]
    where = _run([python, "-c", "import engine, gui, main, engine.resources as r; "
                                "print(engine.__file__); print(gui.__file__); "
                                "print(main.__file__); print(r.default_seed()); "
                                "print(r.models_dir()); print(r.presets_dir())"],
                 cwd=cwd, env=env).stdout.split()
    for path in where:
        assert Path(path).resolve().is_relative_to(installed["venv"].resolve()), path
        assert not Path(path).resolve().is_relative_to(REPO), path
    seed, models = Path(where[3]), Path(where[4])
    assert seed.is_file() and sorted(p.stem for p in models.glob("*.json")) == SHIPPED_CARDS
    assert sorted(Path(where[5]).glob("*.json"))  # the shipped presets

    out = cwd / "x.mid"
    _run([installed["continuo"], "generate", "--seed", seed, "--bars", "2", "-o", out],
         cwd=cwd, env=env)
    seed_notes = sum(m.type == "note_on" and m.velocity > 0
                     for t in mido.MidiFile(seed).tracks for m in t)
    out_notes = sum(m.type == "note_on" and m.velocity > 0
                    for t in mido.MidiFile(out).tracks for m in t)
    assert out_notes > seed_notes

    scored = json.loads(_run([installed["continuo"], "score", "--model", "lstm", out],
                             cwd=cwd, env=env).stdout)
    assert scored["notes"] > 0 and scored["bits_per_note"] > 0

    xml = cwd / "x.musicxml"
    _run([installed["continuo"], "convert", out, xml], cwd=cwd, env=env)
    assert b"score-partwise" in xml.read_bytes()[:2000]

    home = cwd / "desktop home"  # the menu entry starts the installed command
    _run([installed["continuo"], "--install-desktop"], cwd=cwd,
         env={**env, "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "c")})
    entry = (home / "data" / "applications" / "continuo.desktop").read_text()
    assert f"Exec={installed['continuo']} %f" in entry.splitlines()
    assert (home / "data" / "icons" / "hicolor" / "scalable" / "apps" / "continuo.svg").is_file()


@pytest.mark.slow
def test_the_installed_window_opens_offscreen_and_lists_every_shipped_model(installed):
    python, cwd = installed["python"], installed["cwd"]
    fresh = cwd / "a new user"  # no styles or models of their own yet
    env = {**installed["env"], "QT_QPA_PLATFORM": "offscreen", "CONTINUO_RESTORE": "no",
           "XDG_DATA_HOME": str(fresh / "data"), "XDG_CONFIG_HOME": str(fresh / "config")}
    _run([installed["continuo"]], cwd=cwd, env={**env, "CONTINUO_QUIT_AFTER_SHOW": "1"})
    listed = _run([python, "-c", (
        "import os, gui\n"
        "from gui.app import make_application, create_main_window\n"
        "app = make_application(['continuo'])\n"
        "window = create_main_window()\n"
        "app.processEvents()\n"
        "combo = window.panel.model_combo\n"
        "print(gui.__file__)\n"
        "print(' '.join(combo.itemData(i) for i in range(combo.count())))\n"
        "print(window.doc.song().note_count)\n"
        "from gui.panels.drums import is_drum_info\n"  # Add Drums' models, not the panel's
        "library = window.panel.library\n"
        "print(' '.join(n for n in library.names if is_drum_info(library.info(n))))\n"
        "os._exit(0)\n")], cwd=cwd, env=env).stdout.splitlines()
    assert Path(listed[0]).resolve().is_relative_to(installed["venv"].resolve())
    # the Generate panel lists every model that continues pitched music, and Add Drums
    # (Generate > Add Drums) the drum models: between them, every shipped card
    assert sorted(listed[1].split() + listed[3].split()) == SHIPPED_CARDS
    assert listed[3].split() == ["drums-lstm"]
    assert int(listed[2]) > 0  # the default seed, from the package, is open


@pytest.mark.slow
def test_an_editable_install_finds_the_data_in_its_checkout(installed, tmp_path):
    """``pip install -e .`` (what scripts/test.sh and launch.sh do) maps continuo_data
    onto the checkout's models/ and assets/; engine.resources finds them there."""
    env, src = installed["env"], installed["src"]
    venv = tmp_path / "editable"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    site_packages = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                             "['purelib'])"], cwd=tmp_path, env=env).stdout.strip())
    (site_packages / "continuo_test_dependencies.pth").write_text(f"{installed['dependencies']}\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
          "--no-build-isolation", "-e", src], cwd=tmp_path, env=env)
    found = _run([python, "-c", "import engine.resources as r; print(r.models_dir()); "
                                "print(r.default_seed()); print(r.icon_dir())"],
                 cwd=installed["cwd"], env=env).stdout.split()
    assert [Path(p) for p in found] == [src / "models", src / "assets" / "default_seed.mid",
                                        src / "assets" / "icons"]


def test_the_licences_page_names_every_shipped_model_and_file_and_pyproject_is_spdx():
    import tomllib

    page = (REPO / "docs" / "licences.md").read_text()
    for card in SHIPPED_CARDS:
        assert f"`{card}`" in page, card
    for named in ("TimGM6mb", "GPL-2.0", "assets/icons", "Essen", "LICENSE"):
        assert named in page, named
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str)  # an SPDX expression, not the old table
    assert all((REPO / f).is_file() for f in project["license-files"])
