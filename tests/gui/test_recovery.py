"""Autosave and crash recovery, end to end and piece by piece.

The end-to-end test starts the real app (gui.app.create_main_window, offscreen) in a
subprocess, adds two notes the way a gesture does, waits until the autosave has
written them, kills the process with SIGKILL, starts the app again and checks that the
edits are offered and restored (CONTINUO_RESTORE answers the dialog).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.song import Note

REPO = Path(__file__).resolve().parents[2]

# Drives the real app: "edit" adds two notes and reports each autosave; "report"
# prints the document once the app has started (and restored), then quits normally.
DRIVER = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, {repo!r})


    def main():
        from PySide6.QtCore import QTimer
        from engine.song import Note
        from gui.app import create_main_window, make_application

        app = make_application(["continuo"])
        window = create_main_window(None)
        mode = sys.argv[1]

        def report():
            notes = sorted([n.pitch, n.start_tick, n.duration_ticks]
                           for n in window.doc.notes().values())
            print(json.dumps({{"notes": notes, "modified": window.doc.is_modified(),
                              "path": window.doc.file_path}}), flush=True)

        if mode == "edit":
            window.autosaver.saved.connect(lambda p: print("autosaved", p, flush=True))

            def edit():
                window.doc.add_notes([Note(90, 0, 240), Note(91, 240, 240)])
                print("edited", flush=True)
            QTimer.singleShot(300, edit)
        else:
            def report_and_quit():
                report()
                # quitting with unsaved changes asks Save/Discard/Cancel: answer
                # Discard, as the user would, so that the normal-quit cleanup runs
                window.maybe_save = lambda: True
                app.quit()
            QTimer.singleShot(300, report_and_quit)
        return app.exec()


    # the guard matters: the app starts its generation worker with multiprocessing's
    # "spawn", which imports this script again in the worker process
    if __name__ == "__main__":
        sys.exit(main())
""")

EDITS = [[90, 0, 240], [91, 240, 240]]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", CONTINUO_RECOVERY_DIR=str(tmp_path / "recovery"),
               CONTINUO_AUTOSAVE_SECONDS="1", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    env.pop("CONTINUO_RESTORE", None)
    env.update(extra)
    return env


def _start(tmp_path: Path, mode: str, **extra: str) -> subprocess.Popen:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(repo=str(REPO)))
    return subprocess.Popen([sys.executable, str(script), mode], env=_env(tmp_path, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _read_until(proc: subprocess.Popen, prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the app exited ({proc.poll()}) before printing {prefix!r}")
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no {prefix!r} within {timeout} s")


def _edit_autosave_and_kill(tmp_path: Path) -> None:
    proc = _start(tmp_path, "edit")
    try:
        _read_until(proc, "edited", 180)
        _read_until(proc, "autosaved", 60)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no cleanup, no atexit: a crash
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert list((tmp_path / "recovery").glob("recovery-*.mid"))
    # the killed app's helper processes (the generation worker) must not outlive it
    deadline = time.monotonic() + 20
    while _processes_of(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_of(tmp_path) == []


def _processes_of(tmp_path: Path) -> list[int]:
    """Live processes started for this test (their environment names its folder)."""
    marker = f"CONTINUO_RECOVERY_DIR={tmp_path / 'recovery'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _report(tmp_path: Path, answer: str) -> dict:
    proc = _start(tmp_path, "report", CONTINUO_RESTORE=answer)
    try:
        line = _read_until(proc, "{", 180)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return json.loads(line)


@pytest.mark.slow
def test_edits_survive_sigkill_and_are_restored_at_the_next_start(tmp_path: Path) -> None:
    _edit_autosave_and_kill(tmp_path)
    state = _report(tmp_path, "yes")
    assert all(edit in state["notes"] for edit in EDITS), state
    assert state["modified"] is True  # restored, not saved: Save still applies
    # the restored recovery is gone, and the second app quit normally: nothing is left
    assert list((tmp_path / "recovery").glob("recovery-*")) == []


@pytest.mark.slow
def test_declined_recovery_is_discarded(tmp_path: Path) -> None:
    _edit_autosave_and_kill(tmp_path)
    state = _report(tmp_path, "no")
    assert not any(edit in state["notes"] for edit in EDITS)
    assert state["modified"] is False
    assert list((tmp_path / "recovery").glob("recovery-*")) == []


# ---------------------------------------------------------------------------------------
# the pieces, in process
# ---------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "recovery"


def test_autosaves_only_while_modified_and_removes_on_save(qtbot, doc, folder: Path) -> None:
    from gui.autosave import Autosaver

    saver = Autosaver(doc, folder=folder, seconds=0.1)
    qtbot.wait(400)
    assert saver.saves == 0 and not saver.midi_path.exists()  # clean: nothing to save
    with qtbot.waitSignal(saver.saved, timeout=5000):
        doc.add_notes([Note(72, 0, 120)])
    assert saver.midi_path.exists() and saver.sidecar_path.exists()
    meta = json.loads(saver.sidecar_path.read_text())
    assert meta["notes"] == 6 and meta["pid"] == os.getpid()
    saves = saver.saves
    qtbot.wait(400)
    assert saver.saves == saves  # no change since: no rewrite
    doc.mark_saved(str(folder / "song.mid"))  # a clean save
    assert not saver.midi_path.exists() and not saver.sidecar_path.exists()
    saver.stop()


def test_undo_back_to_clean_removes_the_recovery(qtbot, doc, folder: Path) -> None:
    from gui.autosave import Autosaver

    saver = Autosaver(doc, folder=folder, seconds=60)
    doc.add_notes([Note(72, 0, 120)])
    assert saver.save_now()  # what a kept generation triggers
    assert saver.midi_path.exists()
    doc.undo_stack.undo()
    assert not saver.midi_path.exists()
    assert not saver.save_now()  # nothing unsaved
    saver.stop()


def test_pending_recovery_skips_live_processes_and_damaged_sidecars(qtbot, doc,
                                                                    folder: Path) -> None:
    from gui.autosave import Autosaver, pending_recovery

    saver = Autosaver(doc, folder=folder, seconds=60)
    doc.add_notes([Note(72, 0, 120)])
    saver.save_now()
    assert pending_recovery(folder) is None  # this process is alive: not a crash
    # the same files as if left by a process that has exited
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    meta = json.loads(saver.sidecar_path.read_text())
    meta["pid"] = dead_pid
    (folder / f"recovery-{dead_pid}.mid").write_bytes(saver.midi_path.read_bytes())
    (folder / f"recovery-{dead_pid}.json").write_text(json.dumps(meta))
    (folder / "recovery-1.json").write_text("{ damaged")  # ignored, never fatal
    (folder / "recovery-2.json").write_text(json.dumps({**meta, "pid": 2, "notes": "x"}))
    found = pending_recovery(folder)
    assert found is not None and found.pid == dead_pid and found.note_count == 6
    assert found.load().note_count == 6
    found.discard()
    assert pending_recovery(folder) is None
    saver.stop()


def test_autosave_failure_is_reported_not_raised(qtbot, doc, tmp_path: Path) -> None:
    from gui.autosave import Autosaver

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    saver = Autosaver(doc, folder=blocker / "recovery", seconds=60)
    doc.add_notes([Note(72, 0, 120)])
    with qtbot.waitSignal(saver.failed, timeout=2000) as blocker_signal:
        assert not saver.save_now()
    assert "Autosave failed" in blocker_signal.args[0]
    saver.stop()
