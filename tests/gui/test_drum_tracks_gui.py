"""Issue 24: a song with two drum tracks continues both in the window (the engine side:
tests/engine/test_drum_tracks.py).  Generate on a melody and two drum tracks (a kit's
kick and snare on one, its hi-hat on the other): each drum track gets new hits of its
own pieces, Play hears both, and Keep adds everything in one undo step."""

from __future__ import annotations

import pytest

from engine.song import DRUM_CHANNEL, Note, Song, Track
from gui.panels.drums import continued_drums
from tests.gui.test_drums_gui import (CLOSED_HAT, KICK, SNARE, generate_one_bar, groove,
                                      needs_drum_model)


@needs_drum_model
def test_generate_continues_both_drum_tracks_and_keep_takes_them_in_one_step(
        qtbot, library, isolated_settings):
    from tests.gui.test_app import make_window

    if "lstm" not in library.names:
        pytest.skip("lstm is not installed")
    window = make_window(qtbot, library)
    doc, panel = window.doc, window.panel
    melody = [Note(p, i * 480, 480, 90) for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62])]
    hits = groove(2)
    kit = [n for n in hits if n.pitch in (KICK, SNARE)]
    hat = [n for n in hits if n.pitch == CLOSED_HAT]
    doc.load_song(Song(tracks=[Track("Melody", 0, 0, notes=melody),
                               Track("Drums", DRUM_CHANNEL, 0, True, kit),
                               Track("Hi-hat", DRUM_CHANNEL, 0, True, hat)]))
    before = doc.song()
    result = generate_one_bar(qtbot, panel, "lstm")
    new = continued_drums(result, 0)
    assert set(new) == {1, 2}, panel.messages.text()
    assert "each with its own groove" in panel.messages.text()
    for t, own in ((1, {KICK, SNARE}), (2, {CLOSED_HAT})):
        assert new[t] and all(n.channel == DRUM_CHANNEL and n.start_tick >= result.start_tick
                              for n in new[t])
        mine = sum(n.pitch in own for n in new[t])
        assert mine >= 0.9 * len(new[t]), (t, [n.pitch for n in new[t]])
    heard = panel.variation_song(0)
    for t in (1, 2):
        assert any(set(new[t]) <= set(track.notes) for track in heard.tracks if track.is_drum)

    window.generate_keep.trigger()
    after = doc.song()
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Keep variation"
    for t in (1, 2):
        assert sorted(after.tracks[t].notes, key=Note.sort_key) == sorted(
            before.tracks[t].notes + new[t], key=Note.sort_key)
    window.edit_undo.trigger()
    assert doc.song().tracks == before.tracks
