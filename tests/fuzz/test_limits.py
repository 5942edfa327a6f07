"""Regression tests for what the fuzzer found, and the limits it needs, one by one.

Each test starts from a real file (music21's MIDI test files and corpus, Continuo's
default seed) and applies the one damage that broke a reader, so the fix stays fixed.
"""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import pytest

from engine.errors import ContinuoError, LimitError, MidiFileError, ScoreFileError
from engine.limits import ParseTimeout, run_with_time_budget
from engine.formats import midi_file_to_song, score_file_to_song, vlq
from tests.fuzz.conftest import no_hang
from tests.fuzz.mutators import _with_track, mxl_bomb
from tests.fuzz.seeds import REPO, seeds

DEFAULT_SEED = REPO / "assets" / "default_seed.mid"


def _real_score(reader: str, name: str | None = None):
    pool = seeds(reader)
    if name is not None:
        pool = tuple(s for s in pool if s.name == name) or pool
    return pool[0]


# ---------------------------------------------------------------------------------------
# MIDI
# ---------------------------------------------------------------------------------------


def test_impossible_key_signature_is_a_midi_file_error(tmp_path: Path) -> None:
    """Found by the fuzzer: mido raised KeySignatureError (76 sharps), which escaped."""
    data = _with_track(DEFAULT_SEED.read_bytes(), b"\x00\xff\x59\x02\x4c\x00\x00\xff\x2f\x00")
    path = tmp_path / "sharps.mid"
    path.write_bytes(data)
    with pytest.raises(MidiFileError, match="sharps.mid: the file is damaged"):
        midi_file_to_song(path)


def test_a_flood_of_zero_length_notes_is_refused_with_a_limit(tmp_path: Path,
                                                               monkeypatch) -> None:
    """A 1 MB file of 170,000 zero-length notes (the long run also feeds 6 MB ones with
    a million): over the note limit (lowered here to keep the test short), refused
    with a LimitError, within the issue's 5 s per MB (x2 for a shared test machine)."""
    import engine.formats.midi as midi_io

    monkeypatch.setattr(midi_io, "MAX_NOTES", 100_000)
    body = b"\x00\x90\x3c\x64" + b"\x00\x3c\x00\x00\x3c\x64" * 170_000 + b"\x00\xff\x2f\x00"
    data = _with_track(DEFAULT_SEED.read_bytes(), body)
    path = tmp_path / "flood.mid"
    path.write_bytes(data)
    with no_hang(len(data), slack=2), \
            pytest.raises(LimitError, match="flood.mid: .*more than 100,000 notes"):
        midi_file_to_song(path)


@pytest.mark.parametrize("division", [0, 0x8000, 0xE250])
def test_absurd_ppq_is_refused(tmp_path: Path, division: int) -> None:
    real = DEFAULT_SEED.read_bytes()
    path = tmp_path / "ppq.mid"
    path.write_bytes(real[:12] + struct.pack(">H", division) + real[14:])
    with pytest.raises(MidiFileError, match="ppq.mid"):
        midi_file_to_song(path)


def test_zero_tempo_and_longest_deltas_are_read_or_refused(tmp_path: Path) -> None:
    body = b"\x00\xff\x51\x03\x00\x00\x00"  # a tempo of 0 microseconds per beat
    for _ in range(20):
        body += vlq(0x0FFFFFFF) + b"\x90\x3c\x40" + vlq(0x0FFFFFFF) + b"\x80\x3c\x00"
    path = tmp_path / "long.mid"
    path.write_bytes(_with_track(DEFAULT_SEED.read_bytes(), body + b"\x00\xff\x2f\x00"))
    with pytest.raises(LimitError, match="long.mid: track .* longer than Continuo can hold"):
        midi_file_to_song(path)


def test_huge_track_length_in_header_is_a_midi_file_error(tmp_path: Path) -> None:
    real = DEFAULT_SEED.read_bytes()
    path = tmp_path / "huge.mid"
    path.write_bytes(real[:18] + struct.pack(">I", 0xFFFFFFFF) + real[22:])
    with pytest.raises(MidiFileError, match="huge.mid"):
        midi_file_to_song(path)


# ---------------------------------------------------------------------------------------
# scores through music21
# ---------------------------------------------------------------------------------------


def test_compressed_musicxml_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    import random

    real = next(s for s in seeds("musicxml") if s.suffix == ".mxl")
    path = tmp_path / "bomb.mxl"
    path.write_bytes(mxl_bomb(random.Random(1), real.data, []))
    assert path.stat().st_size < 2**20  # a small file ...
    with pytest.raises(LimitError, match="bomb.mxl: the score unpacks to"):
        score_file_to_song(path)  # ... that would inflate to 100+ MB


def test_score_that_makes_music21_crawl_is_stopped_by_the_budget(tmp_path: Path,
                                                                  monkeypatch) -> None:
    """Found by the fuzzer: a 5.6 KB jig whose lines all end in a continuation took
    music21 112 s.  The time budget turns that into a LimitError."""
    monkeypatch.setenv("CONTINUO_SCORE_SECONDS", "1")
    head = _real_score("abc").data.decode("latin-1").split("K:")[0]
    body = "K: D\nuA \\\n| dDD DEF | Agf ede | dDD GAB | efe cBA \\\n" * 120
    path = tmp_path / "crawl.abc"
    path.write_text(head + body, encoding="latin-1")
    with pytest.raises(LimitError, match="crawl.abc: .*took longer than 1 s"):
        score_file_to_song(path)  # the budget's own error: music21 did not run on


def test_a_note_lasting_for_ever_is_a_limit_error(tmp_path: Path) -> None:
    """A 125,000-quarter note: music21 crawls over it (stopped by the budget) or, on a
    fast machine, the song-length limit refuses it; either way a LimitError."""
    real = _real_score("abc").data.decode("latin-1")
    path = tmp_path / "forever.abc"
    path.write_text(real.rstrip() + "\n| C999999 |\n", encoding="latin-1")
    with pytest.raises(LimitError, match="forever.abc: "):
        score_file_to_song(path)


def test_song_length_limit_of_scores(tmp_path: Path, monkeypatch) -> None:
    import engine.formats.scores as scores

    monkeypatch.setattr(scores, "MAX_SCORE_QUARTERS", 8)
    real = _real_score("kern")
    path = tmp_path / real.name
    path.write_bytes(real.data)
    with pytest.raises(LimitError, match=f"{real.name}: a note ends after 8 quarter notes"):
        score_file_to_song(path)


def test_score_reader_never_reads_music21_pickle_cache(tmp_path: Path) -> None:
    """music21 caches parsed files as pickles in a shared temp folder and loads a
    cached pickle newer than the file: a planted one would run code.  Plant garbage
    where music21 would look; the reader must parse the real source instead."""
    from music21 import converter, environment

    real = _real_score("kern")
    path = tmp_path / real.name
    path.write_bytes(real.data)
    expected = score_file_to_song(path).note_count
    pickle_path = converter.PickleFilter(path).getPickleFp(
        environment.Environment().getRootTempDir(), zipType="gz")
    try:
        pickle_path.write_bytes(b"not a pickle at all")
        path.touch()  # make sure the reader's own cache of this file is bypassed
        time.sleep(0.01)
        pickle_path.touch()  # newer than the file, as a real cache entry would be
        assert score_file_to_song(path).note_count == expected
        # the control: music21 left to its defaults does go for the planted file
        with pytest.raises(Exception):
            converter.parse(path)
    finally:
        pickle_path.unlink(missing_ok=True)


def test_reader_writes_no_pickle_cache(tmp_path: Path) -> None:
    from music21 import converter, environment

    real = _real_score("abc")
    path = tmp_path / ("fresh-" + real.name)
    path.write_bytes(real.data)
    score_file_to_song(path)
    pickle_path = converter.PickleFilter(path).getPickleFp(
        environment.Environment().getRootTempDir(), zipType="gz")
    assert not pickle_path.exists()


def test_score_with_a_non_score_suffix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tune.p"  # music21 would unpickle a .p file
    path.write_bytes(_real_score("abc").data)
    with pytest.raises(ScoreFileError, match="tune.p: Continuo reads scores ending in"):
        score_file_to_song(path)


def test_score_file_over_the_size_limit_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    import engine.formats.scores as scores

    monkeypatch.setattr(scores, "MAX_SCORE_BYTES", 1000)
    path = tmp_path / "big.krn"
    path.write_bytes(_real_score("kern").data * 2)
    with pytest.raises(LimitError, match="big.krn: the file is larger than 1000 bytes"):
        score_file_to_song(path)


# ---------------------------------------------------------------------------------------
# the time budget itself
# ---------------------------------------------------------------------------------------


def _swallowing_loop() -> None:
    while True:
        try:
            sum(range(100))
        except Exception:  # a careless parser: must not keep the budget out
            pass


def test_time_budget_stops_a_loop_that_swallows_exceptions_from_a_worker_thread() -> None:
    outcome: list[str] = []

    def caller() -> None:
        try:
            run_with_time_budget(_swallowing_loop, 0.2)
        except ParseTimeout:
            outcome.append("stopped")

    t = threading.Thread(target=caller)
    t.start()
    t.join(5)
    assert outcome == ["stopped"]


def test_time_budget_passes_results_and_errors_through() -> None:
    assert run_with_time_budget(lambda: 42, 5.0) == 42
    with pytest.raises(ZeroDivisionError):
        run_with_time_budget(lambda: 1 / 0, 5.0)


def test_time_budget_never_leaks_into_the_callers_code() -> None:
    """Found by the long fuzz run with the first design (an exception raised in the
    caller's own thread): a ParseTimeout could arrive just after the parse had ended.
    Now it only ever targets the helper thread; bodies ending right at their deadline,
    hundreds of times, leave the caller alone."""
    timeouts = 0
    for i in range(300):
        try:
            run_with_time_budget(lambda: sum(range(i * 50)), 0.0001 * (i % 7))
        except ParseTimeout:
            timeouts += 1
        total = sum(range(10_000))  # a stray ParseTimeout would land here
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        sum(range(100))
    assert total == 49_995_000


def test_every_refusal_is_a_continuo_error() -> None:
    assert issubclass(LimitError, ContinuoError) and issubclass(ScoreFileError, ContinuoError)


def test_kern_with_huge_duration_and_meter_numbers_is_refused_at_once(tmp_path: Path) -> None:
    """Found by the CI slice: a mutated 1.4 KB kern file ("4294967296c",
    "*M999999999/00") kept music21 in C code for 10 s, past the time budget."""
    path = tmp_path / "huge.krn"
    path.write_bytes((Path(__file__).parent / "huge_kern_numbers.krn").read_bytes())
    started = time.process_time()
    with pytest.raises(LimitError, match="huge.krn: .*number too large"):
        score_file_to_song(path)
    assert time.process_time() - started < 2
