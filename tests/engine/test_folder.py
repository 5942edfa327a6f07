"""Reading a folder of the user's music (engine.formats.folder): real files written with
the engine's own writers, a multi-tune ABC file, files that must be skipped, and a
folder of 10,000 files read with progress and cancelled."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.errors import Cancelled, StyleError
from engine.formats import song_to_midi_bytes, song_to_midi_file
from engine.formats.folder import read_folder, music_files
from engine.song import Note, melody_song

TWO_TUNES_ABC = """X:1
T:First
M:4/4
L:1/8
K:G
GABc d2 B2 | c2 A2 G4 |]

X:2
T:Second
M:6/8
L:1/8
K:D
DFA dAF | GBd cAF | D3 D3 |]
"""


def melody(pitches: list[int], step: int = 240) -> bytes:
    notes = [Note(p, i * step, step, 90, 0) for i, p in enumerate(pitches)]
    return song_to_midi_bytes(melody_song(notes, ppq=480))


def test_every_tune_of_every_file_sorted_and_hidden_files_skipped(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "tune.mid").write_bytes(melody([60, 62, 64, 65, 67]))
    (tmp_path / "a.mid").write_bytes(melody([67, 65, 64, 62, 60]))
    (tmp_path / "set.abc").write_text(TWO_TUNES_ABC)
    (tmp_path / ".hidden.mid").write_bytes(melody([60, 60]))
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.mid").write_bytes(melody([60, 60]))
    (tmp_path / "notes.txt").write_text("not music")
    assert [p.relative_to(tmp_path).as_posix() for p in music_files(tmp_path)] == \
        ["a.mid", "b/tune.mid", "set.abc"]

    calls = []
    got = read_folder(tmp_path, DEFAULT_ENCODING, progress=lambda *a: calls.append(a))
    assert [name for name, _ in got.tunes] == ["a.mid", "b/tune.mid", "set.abc#1", "set.abc#2"]
    assert got.files == 3 and got.problems == []
    assert calls == [(0, 3, "a.mid"), (1, 3, "b/tune.mid"), (2, 3, "set.abc"), (3, 3, "")]
    # the tokens are the encoding's own for each tune
    from engine.formats import load_song

    assert got.tunes[0][1].tolist() == DEFAULT_ENCODING.song_to_tokens(
        load_song(tmp_path / "a.mid"))
    assert got.tokens == sum(len(t) for _, t in got.tunes)


def test_bad_files_are_skipped_with_a_reason_and_a_huge_file_is_not_read(tmp_path):
    (tmp_path / "good.mid").write_bytes(melody([60, 62, 64, 65, 67]))
    (tmp_path / "broken.mid").write_bytes(b"MThd this is no MIDI file")
    song_to_midi_file(melody_song([]), tmp_path / "empty.mid")
    with open(tmp_path / "huge.mid", "wb") as f:  # sparse: 50 MB that take no disk
        f.truncate(50 * 2**20)
    got = read_folder(tmp_path, DEFAULT_ENCODING)  # huge.mid refused by its size, unread
    assert [name for name, _ in got.tunes] == ["good.mid"]
    assert got.files == 4
    problems = dict(p.split(": ", 1) for p in got.problems)
    assert set(problems) == {"broken.mid", "empty.mid", "huge.mid"}
    assert "50 MB" in problems["huge.mid"] and "16 MB" in problems["huge.mid"]
    assert "no melody" in problems["empty.mid"]


def test_a_folder_without_music_is_a_clear_error(tmp_path):
    with pytest.raises(StyleError, match="no such folder"):
        read_folder(tmp_path / "missing", DEFAULT_ENCODING)
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(StyleError, match=f"{tmp_path}: no music to learn from; it holds no "
                                         f"music files"):
        read_folder(tmp_path, DEFAULT_ENCODING)
    (tmp_path / "bad.mid").write_bytes(b"nothing")
    with pytest.raises(StyleError, match=r"none of its 1 music file has a melody .*bad\.mid"):
        read_folder(tmp_path, DEFAULT_ENCODING)


def test_ten_thousand_files_show_progress_and_cancel_midway(tmp_path):
    data = melody([60, 62, 64])
    for i in range(10_000):
        (tmp_path / f"{i:05d}.mid").write_bytes(data)
    seen = []

    def progress(done, total, name):
        seen.append((done, total, name))

    with pytest.raises(Cancelled):
        read_folder(tmp_path, DEFAULT_ENCODING, progress=progress,
                    is_cancelled=lambda: len(seen) > 500)
    assert len(seen) == 501 and seen[-1] == (500, 10_000, "00500.mid")
    # cancelled while listing a folder: at once
    with pytest.raises(Cancelled):
        music_files(tmp_path, is_cancelled=lambda: True)


def test_unreadable_file_reason_reaches_problems(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    (tmp_path / "ok.mid").write_bytes(melody([60, 62, 64]))
    locked = tmp_path / "locked.mid"
    locked.write_bytes(melody([60, 62, 64]))
    locked.chmod(0)
    got = read_folder(tmp_path, DEFAULT_ENCODING)
    assert got.problems == ["locked.mid: permission to read the file was denied"]


def test_cli_score_still_reads_every_tune_of_a_file(tmp_path):
    from engine.cli.score import score_files

    path = tmp_path / "set.abc"
    path.write_text(TWO_TUNES_ABC)
    files = score_files([str(path)], lambda song: (1.0, 1, 1))
    assert [t["title"] for t in files[0]["tunes"]] == ["First", "Second"]
