"""SongDocument: every gesture is one undo step, and undo/redo restore exactly."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.encodings import Key
from engine.song import Note, Song, melody_song
from gui.document import GENERATED, SEED, SongDocument


def snapshot(doc: SongDocument):
    """Everything an edit may change, comparable with ==."""
    return (doc.notes(), {i: doc.origin(i) for i in doc.notes()}, doc.tempo_bpm,
            doc.time_signature, doc.key)


def test_loads_the_song_and_gives_it_back(doc, seed_song):
    assert len(doc) == 5
    assert set(doc.notes().values()) == set(seed_song.tracks[0].notes)
    assert all(doc.origin(i) == SEED for i in doc.notes())
    assert doc.song().tracks[0].notes == seed_song.tracks[0].notes
    assert doc.tempo_bpm == pytest.approx(120)
    assert str(doc.time_signature) == "4/4"
    assert doc.key == Key(0, False)
    assert not doc.is_modified()


GESTURES = {
    "Add notes": lambda d, ids: d.add_notes([Note(70, 100, 200), Note(72, 300, 50)]),
    "Delete notes": lambda d, ids: d.delete_notes(ids[:2]),
    "Move notes": lambda d, ids: d.move_notes(ids, 240, -3),
    "Resize notes": lambda d, ids: d.resize_notes(ids[1:], 120),
    "Change velocity": lambda d, ids: d.set_velocity(ids, 33),
    "Transpose": lambda d, ids: d.transpose(ids[:1], 12),
    "Paste": lambda d, ids: d.insert_notes(d.copy_notes(ids), 1920, GENERATED),
    "Change tempo": lambda d, ids: d.set_tempo(90),
    "Change time signature": lambda d, ids: d.set_time_signature(3, 4),
    "Change key": lambda d, ids: d.set_key(Key(7, True)),
}


@pytest.mark.parametrize("name", GESTURES)
def test_each_gesture_is_one_named_step_that_undoes_exactly(doc, name):
    ids = sorted(doc.notes())
    before = snapshot(doc)
    changed = []
    doc.changed.connect(lambda: changed.append(1))
    GESTURES[name](doc, ids)
    after = snapshot(doc)
    assert after != before
    assert doc.undo_stack.count() == 1
    assert doc.undo_stack.undoText() == name
    assert doc.undo_stack.createUndoAction(doc).text() == f"Undo {name}"
    assert len(changed) == 1  # one repaint per gesture, not one per note
    assert doc.is_modified()
    doc.undo_stack.undo()
    assert snapshot(doc) == before
    assert not doc.is_modified()
    doc.undo_stack.redo()
    assert snapshot(doc) == after


def test_ids_are_stable_across_undo_and_redo(doc):
    ids = sorted(doc.notes())
    doc.delete_notes(ids[:1])
    assert ids[0] not in doc
    doc.undo_stack.undo()
    assert ids[0] in doc and doc.selection == {ids[0]}  # restored notes come back selected
    new = doc.add_notes([Note(80, 0, 10)])
    doc.undo_stack.undo()
    doc.undo_stack.redo()
    assert new[0] in doc and doc.note(new[0]) == Note(80, 0, 10)


def test_moves_stop_at_the_edges_and_still_undo_exactly(doc):
    ids = sorted(doc.notes())
    before = doc.notes()
    doc.move_notes(ids, -10_000, 200)  # clamped: earliest note to tick 0, highest to 127
    notes = doc.notes().values()
    assert min(n.start_tick for n in notes) == 0
    assert max(n.pitch for n in notes) == 127
    doc.undo_stack.undo()
    assert doc.notes() == before
    doc.move_notes(ids, -5, 0)  # already at tick 0: nothing to do, nothing pushed
    assert doc.undo_stack.count() == 1


def test_resize_never_goes_below_one_tick_and_undoes_each_length(doc):
    ids = sorted(doc.notes())
    before = doc.notes()
    doc.resize_notes(ids, -700)
    assert {n.duration_ticks for n in doc.notes().values()} == {1, 260}
    doc.undo_stack.undo()
    assert doc.notes() == before


def test_empty_or_no_op_gestures_push_nothing(doc):
    doc.delete_notes([])
    doc.move_notes([], 1, 1)
    doc.set_velocity(sorted(doc.notes()), 100)  # already 100
    doc.set_tempo(120)
    doc.set_time_signature(4, 4)
    doc.add_notes([])
    assert doc.undo_stack.count() == 0


def test_set_velocity_accepts_a_mapping_and_clamps(doc):
    a, b = sorted(doc.notes())[:2]
    doc.set_velocity({a: 500, b: 0})
    assert doc.note(a).velocity == 127 and doc.note(b).velocity == 1
    assert doc.undo_stack.count() == 1


def test_selection_follows_deletion_and_is_not_an_edit(doc):
    ids = sorted(doc.notes())
    doc.set_selection(ids[:2])
    assert doc.undo_stack.count() == 0
    doc.delete_notes(ids[:1])
    assert doc.selection == {ids[1]}
    doc.set_selection([999])  # unknown ids are ignored
    assert doc.selection == frozenset()


def test_kept_variation_is_generated_and_pasted_clip_selected(doc):
    clip = [Note(67, 0, 240), Note(69, 240, 240)]
    ids = doc.insert_notes(clip, 1920, GENERATED, "Keep variation")
    assert [doc.note(i) for i in ids] == [Note(67, 1920, 240), Note(69, 2160, 240)]
    assert {doc.origin(i) for i in ids} == {GENERATED}
    assert doc.selection == set(ids)
    assert doc.undo_stack.undoText() == "Keep variation"
    assert doc.copy_notes(ids) == clip


def test_load_song_clears_history_and_marks_clean(doc, qtbot):
    doc.add_notes([Note(70, 0, 10)])
    with qtbot.waitSignal(doc.song_replaced):
        doc.load_song(melody_song([Note(50, 0, 100)], bpm=90), path="/tmp/x.mid")
    assert doc.undo_stack.count() == 0 and not doc.is_modified()
    assert doc.file_path == "/tmp/x.mid" and doc.tempo_bpm == pytest.approx(90)
    doc.add_notes([Note(70, 0, 10)])
    assert doc.is_modified()
    doc.mark_saved("/tmp/y.mid")
    assert not doc.is_modified() and doc.file_path == "/tmp/y.mid"


def test_key_is_estimated_until_set(doc):
    assert doc.key_is_estimated and doc.key == Key(0, False)
    doc.set_key(Key(9, True))
    assert doc.key == Key(9, True) and not doc.key_is_estimated
    doc.undo_stack.undo()
    assert doc.key == Key(0, False)


def test_notes_in_range_matches_a_brute_force_scan(qtbot):
    rng = random.Random(5)
    notes = [Note(rng.randrange(40, 90), rng.randrange(0, 20_000), rng.randrange(1, 2000))
             for _ in range(2000)]
    doc = SongDocument(melody_song(notes))
    all_notes = doc.notes()
    doc.delete_notes(sorted(all_notes)[::7])  # the index must follow removals
    doc.move_notes(sorted(doc.notes())[::5], 333, 2)  # ... and moves
    all_notes = doc.notes()
    for _ in range(200):
        start = rng.randrange(-100, 21_000)
        end = start + rng.randrange(1, 3000)
        low = rng.randrange(30, 100)
        high = low + rng.randrange(0, 20)
        expected = {i for i, n in all_notes.items()
                    if n.start_tick < end and n.end_tick > start and low <= n.pitch <= high}
        assert set(doc.notes_in_range(start, end, low, high)) == expected


def test_song_snapshot_keeps_tracks_apart(qtbot):
    from engine.song import Track

    song = Song(tracks=[Track("a", notes=[Note(60, 0, 10)]),
                        Track("b", channel=1, notes=[Note(40, 5, 10, channel=1)])])
    doc = SongDocument(song)
    doc.active_track = 1
    new = doc.add_notes([Note(41, 20, 10, channel=1)])
    assert doc.track_of(new[0]) == 1
    out = doc.song()
    assert [t.name for t in out.tracks] == ["a", "b"]
    assert [n.pitch for n in out.tracks[1].notes] == [40, 41]


gesture = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 127), st.integers(0, 4000), st.integers(1, 960)),
    st.tuples(st.just("delete"), st.integers(0, 20)),
    st.tuples(st.just("move"), st.integers(0, 20), st.integers(-2000, 2000),
              st.integers(-30, 30)),
    st.tuples(st.just("resize"), st.integers(0, 20), st.integers(-1000, 1000)),
    st.tuples(st.just("velocity"), st.integers(0, 20), st.integers(-50, 200)),
    st.tuples(st.just("tempo"), st.integers(30, 240)),
)


def apply(doc: SongDocument, g) -> None:
    ids = sorted(doc.notes())
    pick = (lambda k: ids[k % len(ids):k % len(ids) + 2]) if ids else (lambda k: [])
    kind = g[0]
    if kind == "add":
        doc.add_notes([Note(g[1], g[2], g[3])])
    elif kind == "delete":
        doc.delete_notes(pick(g[1]))
    elif kind == "move":
        doc.move_notes(pick(g[1]), g[2], g[3])
    elif kind == "resize":
        doc.resize_notes(pick(g[1]), g[2])
    elif kind == "velocity":
        doc.set_velocity(pick(g[1]), g[2])
    else:
        doc.set_tempo(g[1])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(gesture, min_size=1, max_size=12))
def test_any_sequence_of_gestures_undoes_and_redoes_exactly(doc, gestures):
    doc.undo_stack.clear()
    start = snapshot(doc)
    states = [start]
    for g in gestures:
        count = doc.undo_stack.count()
        apply(doc, g)
        assert doc.undo_stack.count() in (count, count + 1)  # at most one step per gesture
        if doc.undo_stack.count() > count:
            states.append(snapshot(doc))
        else:
            assert snapshot(doc) == states[-1]  # nothing pushed: nothing changed
    for state in reversed(states[:-1]):
        doc.undo_stack.undo()
        assert snapshot(doc) == state
    for state in states[1:]:
        doc.undo_stack.redo()
        assert snapshot(doc) == state
    # the index agrees with the notes after all that
    notes = doc.notes()
    assert set(doc.notes_in_range(0, 10**7)) == set(notes)
    while doc.undo_stack.canUndo():
        doc.undo_stack.undo()


def test_active_track_is_checked_and_announced(doc, qtbot):
    with pytest.raises(ValueError):
        doc.active_track = 3
    assert doc.active_track == 0


def test_end_tick_follows_every_edit(doc):
    assert doc.end_tick == 2880
    (new,) = doc.add_notes([Note(70, 5000, 100)])
    assert doc.end_tick == 5100
    doc.resize_notes([new], 50)
    assert doc.end_tick == 5150
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.end_tick == 2880


def test_a_files_final_rest_stays_in_the_song_and_is_saved_again():
    """A MIDI file whose end of track comes a bar after its last note: the document
    hands that end to Generate (the seed ends there) and to Save."""
    from engine.formats import midi_file_to_song, song_to_midi_bytes

    song = melody_song([Note(60, 0, 960), Note(64, 960, 960)])
    song.length_ticks = 2 * 1920  # a bar of rest after the last note
    data = song_to_midi_bytes(song)
    read = midi_file_to_song(data)
    assert read.length_ticks == 3840
    doc = SongDocument(read)
    assert doc.song().length_ticks == 3840 and doc.song().end_tick == 3840
    assert midi_file_to_song(song_to_midi_bytes(doc.song())).length_ticks == 3840
