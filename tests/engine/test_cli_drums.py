"""``continuo drums``: Add Drums on the command line (a real MIDI file, the shipped drum
model, the real main.py in a subprocess), --list-styles, and a mistake as one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.encodings.drums import DRUM_CHANNEL, STYLES
from engine.formats import load_song, song_to_midi_file

ROOT = Path(__file__).resolve().parents[2]
# four bars of an mma swing groove: drums, two chord tracks and a bass
GROOVE = ROOT / "tests" / "data" / "drums" / "swing-tiny.mid"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "drums", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def no_drums(tmp_path_factory) -> Path:
    """The groove without its drum track."""
    song = load_song(str(GROOVE))
    song.tracks[:] = [t for t in song.tracks if not t.is_drum]
    path = tmp_path_factory.mktemp("songs") / "groove-no-drums.mid"
    song_to_midi_file(song, path)
    return path


def test_list_styles_prints_auto_then_every_style():
    proc = run("--list-styles")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("auto") and lines[1:] == list(STYLES)


def test_drums_writes_the_song_with_a_new_drum_track_per_variation(tmp_path, no_drums):
    out = tmp_path / "out.mid"
    proc = run(str(no_drums), "--style", "swing", "--variations", "2", "--rng-seed", "4",
               "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "note: Drum style swing." in proc.stderr
    song = load_song(str(no_drums))
    for i in (1, 2):
        written = load_song(str(tmp_path / f"out-{i}.mid"))
        assert len(written.tracks) == len(song.tracks) + 1
        drums = written.tracks[-1]
        assert drums.is_drum and drums.channel == DRUM_CHANNEL and drums.notes
        assert [t.notes for t in written.tracks[:-1]] == [t.notes for t in song.tracks]
        assert f"out-{i}.mid" in proc.stdout


@pytest.mark.parametrize("args,words", [
    (["--style", "polka-dots"], "no drum style named 'polka-dots'"),
    (["--variations", "9"], "variations must be between 1 and 8"),
    ([], "give the file to write with -o"),
])
def test_a_mistake_is_one_line_and_exit_status_1(tmp_path, no_drums, args, words):
    out = [] if not args or args[0] != "--style" and args[0] != "--variations" else \
        ["-o", str(tmp_path / "x.mid")]
    proc = run(str(no_drums), *args, *out)
    assert proc.returncode == 1
    assert proc.stderr.startswith("continuo drums: ") and words in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.mid").exists()


def test_a_song_of_drums_only_is_refused_with_a_sentence(tmp_path):
    song = load_song(str(GROOVE))
    song.tracks[:] = [t for t in song.tracks if t.is_drum]
    path = tmp_path / "drums-only.mid"
    song_to_midi_file(song, path)
    proc = run(str(path), "-o", str(tmp_path / "x.mid"))
    assert proc.returncode == 1 and "only drums" in proc.stderr
    assert "use Generate to continue the drums" in proc.stderr
