"""``continuo --install-desktop``: a freedesktop entry, its icon and file types, and the
MIME defaults, in a temporary XDG home, checked with the desktop's own tools
(desktop-file-validate, xdg-mime; Debian's desktop-file-utils and xdg-utils, installed
by scripts/system-deps.sh)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import desktop
from engine.formats import song_to_midi_file
from engine.song import Note, melody_song

REPO = Path(__file__).resolve().parents[2]
needs_validate = pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                                    reason="desktop-file-validate is not installed "
                                           "(Debian: desktop-file-utils)")
needs_xdg_mime = pytest.mark.skipif(shutil.which("xdg-mime") is None,
                                    reason="xdg-mime is not installed (Debian: xdg-utils)")

USERS_OWN = """# my own choices
[Default Applications]
image/png=viewer.desktop;
text/vnd.abc=abcm2ps-viewer.desktop;

[Added Associations]
audio/midi=timidity.desktop;
"""


def _home(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_CURRENT_DESKTOP", "DESKTOP_SESSION", "KDE_FULL_SESSION",
                        "GNOME_DESKTOP_SESSION_ID", "PYTHONPATH")}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               QT_QPA_PLATFORM="offscreen", CONTINUO_RESTORE="no")
    return env


def _continuo(args, env, cwd=REPO, timeout=120):
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _default(mime: str, env) -> str:
    result = subprocess.run(["xdg-mime", "query", "default", mime], env=env,
                            capture_output=True, text=True, timeout=60)
    return result.stdout.strip()


def _exec_command(entry: Path, file: Path) -> list[str]:
    """The entry's Exec key as the desktop runs it, with ``file`` for %f."""
    line = next(l for l in entry.read_text().splitlines() if l.startswith("Exec="))
    value = line[len("Exec="):].replace("\\\\", "\\")  # the string escaping
    args = shlex.split(value)
    return [str(file) if a == "%f" else a.replace("%%", "%") for a in args]


# ---- the pure parts ------------------------------------------------------------------
def test_registering_keeps_the_users_own_choices_and_unregistering_only_takes_ours_out():
    text, now_default, kept = desktop.register_types(USERS_OWN)
    assert kept == ["text/vnd.abc"]
    assert "audio/midi" in now_default and "application/vnd.recordare.musicxml" in now_default
    lines = text.splitlines()
    assert "image/png=viewer.desktop;" in lines
    assert "text/vnd.abc=abcm2ps-viewer.desktop;" in lines
    assert "audio/midi=timidity.desktop;continuo.desktop;" in lines  # Open with: both
    assert "audio/midi=continuo.desktop;" in lines  # the default
    assert "# my own choices" in lines
    again, _, _ = desktop.register_types(text)
    assert again == text  # installing twice changes nothing
    assert desktop.unregister_types(text) == USERS_OWN


def test_an_exec_path_with_spaces_and_shell_characters_is_quoted_as_the_spec_says():
    command = ["/home/a user/my $apps/bin/python", "/opt/con`tinuo/main.py", "50%"]
    entry = desktop.desktop_entry(command)
    line = next(l for l in entry.splitlines() if l.startswith("Exec="))
    assert line == ('Exec="/home/a user/my \\\\$apps/bin/python" "/opt/con\\\\`tinuo/main.py" '
                    '50%% %f')


@needs_validate
def test_the_entry_for_an_awkward_path_validates(tmp_path):
    entry = tmp_path / "continuo.desktop"
    entry.write_text(desktop.desktop_entry(['/home/a "user"/bin/continuo']))
    result = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


# ---- the real install ----------------------------------------------------------------
@needs_validate
@needs_xdg_mime
def test_install_desktop_validates_is_the_default_opens_files_and_uninstalls(tmp_path):
    env = _home(tmp_path)
    config = tmp_path / "config"
    config.mkdir()
    (config / "mimeapps.list").write_text(USERS_OWN)
    apps = tmp_path / "data" / "applications"
    apps.mkdir(parents=True)
    for name in ("viewer", "abcm2ps-viewer", "timidity"):  # the user's other programs
        (apps / f"{name}.desktop").write_text(
            f"[Desktop Entry]\nType=Application\nName={name}\nExec=true %f\n")

    result = _continuo(["--install-desktop"], env)
    assert result.returncode == 0, result.stderr
    entry = tmp_path / "data" / "applications" / "continuo.desktop"
    icon = tmp_path / "data" / "icons" / "hicolor" / "scalable" / "apps" / "continuo.svg"
    assert str(entry) in result.stdout and entry.is_file() and icon.is_file()
    assert "your own choice for text/vnd.abc is kept" in result.stdout

    valid = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True,
                           text=True, timeout=60)
    assert valid.returncode == 0 and not valid.stdout.strip(), valid.stdout

    for mime in ("audio/midi", "application/vnd.recordare.musicxml+xml",
                 "application/vnd.recordare.musicxml"):
        assert _default(mime, env) == "continuo.desktop", mime
    assert _default("text/vnd.abc", env) == "abcm2ps-viewer.desktop"  # the user's choice
    assert _default("image/png", env) == "viewer.desktop"

    # the new file types, as Qt's (shared-mime-info) database sees them in this home
    if shutil.which("update-mime-database"):
        probe = subprocess.run([sys.executable, "-c", (
            "import sys\n"
            "from PySide6.QtCore import QCoreApplication, QMimeDatabase\n"
            "app = QCoreApplication([])\n"
            "db = QMimeDatabase()\n"
            "print(' '.join(db.mimeTypeForFile(n, QMimeDatabase.MatchMode.MatchExtension)"
            ".name() for n in sys.argv[1:]))\n"), "a.abc", "a.musicxml", "a.mxl", "a.mid"],
            env=env, capture_output=True, text=True, timeout=60)
        assert probe.stdout.split() == ["text/vnd.abc", "application/vnd.recordare.musicxml+xml",
                                         "application/vnd.recordare.musicxml", "audio/midi"]

    # "Open with Continuo": the entry's own command opens the file (a one-track MIDI
    # file and a one-tune ABC file, so no question is asked) and lists it as recent
    song = melody_song([Note(60, 0, 480), Note(64, 480, 480), Note(67, 960, 960)])
    midi = tmp_path / "a tune.mid"
    song_to_midi_file(song, midi)
    abc = tmp_path / "one.abc"
    abc.write_text("X:1\nT:Up\nM:4/4\nL:1/4\nK:G\nG A B c|d2 B2|]\n")
    for file in (midi, abc):
        opened = subprocess.run(_exec_command(entry, file), cwd=tmp_path,
                                env={**env, "CONTINUO_QUIT_AFTER_SHOW": "1"},
                                capture_output=True, text=True, timeout=120)
        assert opened.returncode == 0, opened.stderr[-2000:]
        settings = (config / "Continuo" / "Continuo.conf").read_text()
        assert str(file) in settings, settings

    result = _continuo(["--uninstall-desktop"], env)
    assert result.returncode == 0, result.stderr
    assert not entry.exists() and not icon.exists()
    assert not (tmp_path / "data" / "mime" / "packages" / "continuo.xml").exists()
    assert (config / "mimeapps.list").read_text() == USERS_OWN
    assert _default("audio/midi", env) != "continuo.desktop"
    again = _continuo(["--uninstall-desktop"], env)
    assert again.returncode == 0 and "no desktop entry" in again.stdout
