"""training.datasets.partmusic on a handful of real files of music21's corpus (a few seconds)."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

pytest.importorskip("music21")

from training.datasets import partmusic  # noqa: E402

CHORALE = "bach/bwv66.6.mxl"
ONE_LINE = "leadSheet/fosterBrownHair.mxl"  # a melody with chord symbols


def _crc_split(piece_id: str) -> str:
    r = zlib.crc32(piece_id.encode()) % 20
    return "test" if r == 0 else "validation" if r == 1 else "train"


def test_collections_listed_and_folk_books_left_out():
    files = partmusic.collection_files()
    for wanted in ("bach", "palestrina", "monteverdi", "trecento"):
        assert files.get(wanted), wanted
    for left_out in ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs"):
        assert left_out not in files
    assert CHORALE in files["bach"]
    for collection, ids in files.items():
        assert ids == sorted(ids)
        assert all(i.startswith(collection + "/") and "\\" not in i for i in ids)
        assert not any(i.endswith(".rntxt") for i in ids)  # analyses, not music


def test_first_bach_files_by_limit(tmp_path):
    path = partmusic.build_notes_cache(processes=2, limit=4, collections=["bach"],
                                       cache_dir=tmp_path)
    assert path == tmp_path / "partmusic-notes-v1.npz"
    index = json.loads((tmp_path / "partmusic-notes-v1.json").read_text())
    expected_ids = partmusic.collection_files()["bach"][:4]
    got = [p["id"] for p in index["pieces"]] + [
        e["id"] for r in index["rejected"].values() for e in r["examples"]]
    assert sorted(got) == expected_ids
    for p in index["pieces"]:
        assert p["collection"] == "bach"
        assert p["split"] == _crc_split(p["id"])
        assert p["tracks"] >= 2 and len(p["track_names"]) == p["tracks"]
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == set(partmusic.NOTE_FIELDS)
        assert all(z[f].dtype == np.int32 for f in z.files)
        assert len(z["pitch"]) == sum(p["notes"] for p in index["pieces"])


def test_chorale_round_trip_and_one_part_rejected(tmp_path):
    music21 = pytest.importorskip("music21")
    partmusic.build_notes_cache(ids=[CHORALE, ONE_LINE], cache_dir=tmp_path)

    songs = partmusic.load_part_songs(cache_dir=tmp_path)
    assert [(i, c) for i, c, _ in songs] == [(CHORALE, "bach")]
    song = songs[0][2]
    assert [t.name for t in song.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]

    score = music21.corpus.parse(CHORALE)
    for part, track in zip(score.parts, song.tracks):
        expected = sum(len(n.pitches) for n in part.stripTies().flatten().notes
                       if n.duration.quarterLength > 0)
        assert len(track.notes) == expected
    assert song.ppq == 480
    meter = song.meter_at(0)
    assert (meter.numerator, meter.denominator) == (4, 4)
    assert song.pickup_ticks == 480  # the cache keeps the one-beat pickup

    split = _crc_split(CHORALE)
    assert [i for i, _, _ in partmusic.load_part_songs(split, cache_dir=tmp_path)] == [CHORALE]
    other = next(s for s in ("train", "validation", "test") if s != split)
    assert partmusic.load_part_songs(other, cache_dir=tmp_path) == []

    rejected = partmusic.rejected_summary(cache_dir=tmp_path)
    assert list(rejected) == ["one part"]
    assert rejected["one part"]["count"] == 1
    assert rejected["one part"]["by_collection"] == {"leadSheet": 1}
    assert rejected["one part"]["examples"][0]["id"] == ONE_LINE

    counts = partmusic.split_counts(cache_dir=tmp_path)
    assert counts["bach"][split] == 1 and counts["bach"]["pieces"] == 1
    assert counts["leadSheet"]["rejected"] == 1
    table = partmusic.counts_markdown(cache_dir=tmp_path)
    assert "| bach |" in table and "| **all** |" in table


def test_ties_are_merged(tmp_path):
    """bwv66.6 has tied notes: the cache holds fewer notes than written noteheads."""
    music21 = pytest.importorskip("music21")
    partmusic.build_notes_cache(ids=[CHORALE], cache_dir=tmp_path)
    (_, _, song), = partmusic.load_part_songs(cache_dir=tmp_path)
    score = music21.corpus.parse(CHORALE)
    written = sum(len(p.flatten().notes) for p in score.parts)
    assert song.note_count < written


def test_a_stuck_parse_is_given_up(tmp_path):
    """The parent's hard cap tears the pool down and rejects the file, never hangs, and
    the file beside it is parsed in the new pool.  The stuck file is a named pipe that
    nothing writes: opening it blocks the worker for good, as a parse stuck in C code
    does (a cap of a millisecond on real files raced a parse that music21's own cache
    made instant)."""
    import os
    import shutil

    root = tmp_path / "corpus"
    (root / "bach").mkdir(parents=True)
    shutil.copy(partmusic.corpus_root() / CHORALE, root / CHORALE)
    os.mkfifo(root / "stuck.krn")
    partmusic.build_notes_cache(processes=1, ids=["stuck.krn", CHORALE],
                                cache_dir=tmp_path / "cache", root=root,
                                parse_seconds=60.0, hard_seconds=1.0)
    index = partmusic.load_index(tmp_path / "cache")
    assert [p["id"] for p in index["pieces"]] == [CHORALE]
    assert [e["id"] for e in index["rejected"]["parse too slow"]["examples"]] == ["stuck.krn"]
    (_, _, song), = partmusic.load_part_songs(cache_dir=tmp_path / "cache")
    assert len(song.tracks) == 4 and song.note_count > 100
