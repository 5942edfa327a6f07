"""The corpus: fixed split rule, tune ids that match the app's tune numbering, counted
rejects, a pickle-free cache, and MIDI folders that fail politely."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.errors import ContinuoError
from engine.formats import score_file_to_song, song_to_midi_file
from engine.song import Note, melody_song
from training import corpus as C


def test_split_rule_is_crc32_mod_20():
    for tune_id in ["han1.abc#17", "kinder0.abc#0", "x.mid"]:
        r = zlib.crc32(tune_id.encode()) % 20
        assert C.split_of(tune_id) == ("test" if r == 0 else "validation" if r == 1 else "train")
    ids = [f"f.abc#{i}" for i in range(4000)]
    share = sum(C.split_of(i) == "test" for i in ids) / len(ids)
    assert 0.03 < share < 0.07


def _notes(pitches_and_steps, ppq=480):
    """[(pitch, start_step, length_steps)] on a sixteenth grid -> Notes."""
    q = ppq // 4
    return [Note(p, s * q, n * q) for p, s, n in pitches_and_steps]


def test_rejects_have_reasons():
    ok = _notes([(60 + (i % 5) * 2, 2 * i, 2) for i in range(12)])
    tokens, reason = C.encode_song_notes(ok, 480, DEFAULT_ENCODING, strict=True)
    assert reason is None and tokens[-1] == 1 and tokens[0] >= 2
    assert C.encode_song_notes(ok[:5], 480, DEFAULT_ENCODING, True) == (None, "too_short")
    assert C.encode_song_notes([], 480, DEFAULT_ENCODING, True) == (None, "no_notes")
    triplets = ok + [Note(70, 30 * 120 + k * 160, 160) for k in range(3)]
    assert C.encode_song_notes(triplets, 480, DEFAULT_ENCODING, True)[1] == "off_grid"
    # the same tune from a MIDI file (strict=False) is snapped to the grid instead
    assert C.encode_song_notes(triplets, 480, DEFAULT_ENCODING, False)[1] is None
    wide = _notes([(36 + 4 * i, 2 * i, 2) for i in range(14)])  # spans 52 semitones
    assert C.encode_song_notes(wide, 480, DEFAULT_ENCODING, True)[1] == "range"
    chords = ok + [Note(55, 0, 240)]
    assert C.encode_song_notes(chords, 480, DEFAULT_ENCODING, True)[1] == "chords"


@pytest.fixture(scope="module")
def small_abc_corpus():
    files = [f for f in C.collection_files("essenFolksong") if f.name == "test1.abc"]
    assert files, "music21's essenFolksong should ship test1.abc"
    return files[0], C.build_abc_corpus("essenFolksong", processes=1, show_progress=False,
                                        files=files)


def test_abc_corpus_ids_follow_the_apps_tune_numbering(small_abc_corpus):
    path, corpus = small_abc_corpus
    assert corpus.total == len(corpus.tunes) + sum(corpus.rejected.values())
    assert corpus.tunes and all(i.startswith("test1.abc#") for i in corpus.ids)
    # tune i of the corpus is tune i of the file as the app opens it
    for k in (0, len(corpus.ids) - 1):
        index = int(corpus.ids[k].split("#")[1])
        song = score_file_to_song(path, tune=index)
        enc = DEFAULT_ENCODING.encode_notes(list(song.notes()), song.ppq, closing_off=True)
        assert list(corpus.tunes[k]) == enc.tokens
    assert corpus.splits == [C.split_of(i) for i in corpus.ids]


def test_cache_round_trip_without_pickle(small_abc_corpus, tmp_path):
    _, corpus = small_abc_corpus
    npz = C.save_corpus(corpus, tmp_path)
    with np.load(npz, allow_pickle=False) as data:
        assert data["tokens"].dtype == np.int8
    back = C.load_corpus(corpus.name, tmp_path)
    assert back.ids == corpus.ids and back.splits == corpus.splits
    assert all(np.array_equal(a, b) for a, b in zip(back.tunes, corpus.tunes))
    assert back.rejected == corpus.rejected and back.total == corpus.total


def test_midi_folder_errors_and_skips(tmp_path):
    with pytest.raises(ContinuoError, match="no MIDI files"):
        C.build_midi_corpus(tmp_path, processes=1, show_progress=False)
    with pytest.raises(ContinuoError, match="no such folder"):
        C.build_midi_corpus(tmp_path / "missing", processes=1, show_progress=False)
    (tmp_path / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    song = melody_song(_notes([(62 + (i % 4), 2 * i, 2) for i in range(16)]))
    song_to_midi_file(song, tmp_path / "good.mid")
    corpus = C.build_midi_corpus(tmp_path, processes=1, show_progress=False)
    assert corpus.ids == ["good.mid"] and corpus.total == 2
    assert corpus.rejected == {"parse": 1}
