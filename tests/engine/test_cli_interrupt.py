"""Ctrl+C on the command line (issue 23): ``main.py generate|fill|harmonise|score`` stop
on SIGINT with one line, "continuo COMMAND: stopped", exit status 130 and no traceback,
whether the signal comes while the modules load or while the model works.

Each job runs in a real subprocess and gets a real SIGINT; the test waits for the
process to reach the phase it means to interrupt by what it has loaded
(/proc/PID/maps) and the CPU time it has used, never by the clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.formats import song_to_midi_file
from engine.song import Note, Song, Track

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(),
                                reason="reads /proc to see what the job has loaded")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loaded(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def interrupt(args: list[str], library: str, cpu_after: float = 0.0) -> tuple[int, str]:
    """Run ``main.py ARGS``; once it has loaded ``library`` and used ``cpu_after`` more
    seconds of CPU, send SIGINT; (exit status, stderr)."""
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not _loaded(proc.pid, library):
            assert proc.poll() is None, f"the job ended before it loaded {library}: " \
                                        f"{proc.communicate()}"
            time.sleep(0.01)
        start = _cpu_seconds(proc.pid)
        while _cpu_seconds(proc.pid) - start < cpu_after:
            assert proc.poll() is None, f"the job ended before it was interrupted: " \
                                        f"{proc.communicate()}"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # a backstop for a hang, not a measure
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def assert_stopped(command: str, status: int, err: str) -> None:
    assert "Traceback" not in err, err
    assert status == 130, err
    assert err.rstrip("\n").splitlines()[-1] == f"continuo {command}: stopped", err
    assert err.count("stopped") == 1, err


def _song(bars: int) -> Song:
    scale = (60, 62, 64, 65, 67, 69, 71, 72)
    melody = [Note(scale[(i * 5) % 8] + 5, i * 480, 480, 80) for i in range(4 * bars)]
    bass = [Note(scale[(i * 3) % 8] - 12, i * 1920, 1920, 70, 1) for i in range(bars)]
    return Song(ppq=480, tracks=[Track(name="Melody", notes=melody),
                                 Track(name="Bass", channel=1, notes=bass)])


@pytest.fixture(scope="module")
def long_song(tmp_path_factory) -> Path:
    """A 400-bar melody and a bass line under it: enough work that every job is still
    running when it is interrupted."""
    path = tmp_path_factory.mktemp("interrupt") / "long.mid"
    song_to_midi_file(_song(400), path)
    return path


@pytest.fixture(scope="module")
def harmonise_song(tmp_path_factory) -> Path:
    """The longest melody harmonise takes at once (128 bars; seconds of work)."""
    path = tmp_path_factory.mktemp("interrupt") / "melody.mid"
    song_to_midi_file(_song(120), path)
    return path


def test_ctrl_c_while_the_modules_load(tmp_path: Path) -> None:
    out = tmp_path / "out.mid"
    status, err = interrupt(["generate", "--model", "lstm", "--steps", "2048", "--variations",
                             "8", "-o", str(out)], "_multiarray_umath")
    assert_stopped("generate", status, err)


@pytest.mark.parametrize("command, args", [
    ("generate", ["--model", "poly-wavenet", "--steps", "2048", "--variations", "8"]),
    ("fill", ["--model", "poly-wavenet", "--from", "2", "--to", "120", "--variations", "8"]),
    ("harmonise", []),
    ("score", []),
])
def test_ctrl_c_while_the_model_works(tmp_path: Path, long_song: Path, harmonise_song: Path,
                                      command: str, args: list[str]) -> None:
    out = tmp_path / "out.mid"
    if command == "score":
        argv = ["score", *[str(long_song)] * 8]
    elif command == "harmonise":
        argv = ["harmonise", str(harmonise_song), "-o", str(out)]
    else:
        argv = [command, "--seed", str(long_song), *args, "-o", str(out)]
    status, err = interrupt(argv, "onnxruntime_pybind11_state", cpu_after=0.2)
    assert_stopped(command, status, err)
    assert list(tmp_path.iterdir()) == [], "a stopped job leaves no file behind"
