"""Fill: regenerate the selected span of the active track from the music on both sides.

The span is the time range selected in the piano roll's ruler (a Shift drag there) when
there is one, else the selected notes' (from the first one's start to the last one's
end; the same span that L loops).  The main window hands the panel the roll's
``time_range``; the range outlives Keep, so the same bars can be filled again, and
selecting it is view state, never an undo step.  :class:`FillController` runs the fill
as a job in the generation service through the Generate panel's public ``submit`` (a
:class:`gui.worker.GenerationJob` with an ``end_tick``); the panel shows the variations
in place as it shows continuations, and Keep replaces the span's notes with the chosen
variation in one undo step ("Fill"), which :class:`FillRun` does.  The
engine decides what a gap means (:mod:`engine.generation.fill`): notes that start
inside it are replaced, every other note stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.encodings import FILL, PARTS, capabilities_of
from engine.generation.fill import split_at_gap
from engine.song import Note, Song
from gui.document import GENERATED
from gui.worker import is_polyphonic_model

SELECT_A_GAP = ("Select the notes of the bars to fill (a rubber band over them), or drag "
                "with Shift in the ruler over those bars: Fill replaces them from the "
                "music on both sides.")


@dataclass(frozen=True)
class Gap:
    start_tick: int
    end_tick: int
    track: int


def range_text(song: Song, start: int, end: int) -> str:
    """What the status bar says about a time range just selected."""
    (bar0, beat0, in0), (bar1, beat1, in1) = song.bar_beat_at(start), song.bar_beat_at(end)
    if (beat0, in0, beat1, in1) == (1, 0, 1, 0):  # whole bars
        span = f"Bar {bar0}" if bar1 == bar0 + 1 else f"Bars {bar0}-{bar1 - 1}"
    else:
        span = f"From {bar0}.{beat0} to {bar1}.{beat1} (bar.beat)"
    return f"{span} selected: Fill (Ctrl+Shift+F) regenerates them, Escape clears the range"


def fill_models(library: Any) -> list[str]:
    """The melody models that fill a gap (a part model fills every part, and is chosen
    as itself)."""
    return [m.name for m in getattr(library, "models", []) or []
            if {FILL} <= _capabilities(m) and PARTS not in _capabilities(m)]


def _capabilities(info: Any) -> frozenset[str]:
    try:
        return capabilities_of(info)
    except (AttributeError, TypeError):  # not a model the engine can say anything about
        return frozenset()


class FillController:
    """Fill for the Generate panel (``panel``: its public methods only)."""

    def __init__(self, panel: Any) -> None:
        self.panel = panel

    def selected_gap(self) -> Gap | None:
        """The ruler's time range on the active track, else the span of the selected
        notes there, or None."""
        doc = self.panel.doc
        track = doc.active_track
        time_range = self.panel.time_range()
        if time_range is not None:
            return Gap(*time_range, track)
        selected = [n for i, n in doc.selected_notes().items() if doc.track_of(i) == track]
        if not selected:
            return None
        return Gap(min(n.start_tick for n in selected), max(n.end_tick for n in selected),
                   track)

    def start(self, gap: Gap | None = None) -> bool:
        """Start filling ``gap`` (default: the selected range or span); False (with a
        message) when it cannot start."""
        panel = self.panel
        if panel.is_running():
            return False
        gap = gap or self.selected_gap()
        if gap is None:
            panel.say(SELECT_A_GAP)
            return False
        settings = panel.checked_settings()
        if settings is None:
            return False
        polyphonic = is_polyphonic_model(panel.library, settings.model)  # fills every part
        models = fill_models(panel.library)
        if settings.model not in models and not polyphonic:
            if not models:
                panel.say(f"The model {settings.model} was trained to continue, not to fill, "
                          f"and no model that fills was found.")
                return False
            # the chosen model only continues: its fill twin, else the first that fills
            twin = f"{settings.model}-fill"
            settings.model = twin if twin in models else models[0]
        song = panel.doc.song()
        request = panel.checked_request(FILL, settings, song, track=gap.track,
                                        start_tick=gap.start_tick, end_tick=gap.end_tick)
        if request is None:
            return False
        panel.save_settings()
        panel.submit(song, request, FillRun(panel, gap),
                     f"Filling {'every part ' if polyphonic else ''}with {settings.model}...")
        return True


class FillRun:
    """The variations of one fill of ``gap``: a melody's (its track), or every part's
    (a polyphonic fill's result has ``track_of``)."""

    locks_seed_key = False  # a fill's key lock is the gap's, not the seed's

    def __init__(self, panel: Any, gap: Gap) -> None:
        self.panel = panel
        self.gap = gap

    def again(self) -> bool:
        return self.panel.fill(self.gap)

    def tail(self, result: Any) -> list[Note]:
        return self.context_notes(result)

    def details(self, result: Any) -> list[str] | None:
        return None

    def headline(self, result: Any) -> str:
        return f"{len(result.variations)} variations"

    def clip(self, result: Any, index: int) -> Song | None:
        return None

    def keep(self, result: Any, index: int) -> tuple[list[int], str]:
        """Replace the gap's notes by variation ``index``: one undo step, "Fill"."""
        if result.track_of is not None:  # a polyphonic fill: every part
            return self._keep_parts(result, index)
        gap, doc = self.gap, self.panel.doc
        notes = self.panel.variation_notes(index)
        on_track = {i: n for i, n in doc.notes().items() if doc.track_of(i) == gap.track}
        _, inside, _ = split_at_gap(list(on_track.values()), gap.start_tick, gap.end_tick)
        inside_ids = {i for i, n in on_track.items()
                      if gap.start_tick <= n.start_tick < gap.end_tick}
        doc.undo_stack.beginMacro("Fill")
        try:
            doc.delete_notes(inside_ids, text="Fill")
            ids = doc.add_notes(notes, origin=GENERATED, text="Fill", track=gap.track,
                                select=True)
        finally:
            doc.undo_stack.endMacro()
        return ids, (f"Filled with variation {index + 1} ({len(ids)} notes replace "
                     f"{len(inside)}). Undo brings the old notes back.")

    def _keep_parts(self, result: Any, index: int) -> tuple[list[int], str]:
        """A polyphonic fill: the gap's notes on every part replaced by each part's notes
        of variation ``index``, in one undo step ("Fill")."""
        gap, doc = self.gap, self.panel.doc
        parts = set(self._filled_tracks(result))
        inside = {i for i, n in doc.notes().items()
                  if doc.track_of(i) in parts and gap.start_tick <= n.start_tick < gap.end_tick}
        added: dict[int, list[Note]] = {}
        for n, t in zip(result.variations[index], result.track_of[index]):
            added.setdefault(t, []).append(n)
        doc.undo_stack.beginMacro("Fill")
        try:
            doc.delete_notes(inside, text="Fill")
            ids = doc.add_parts(added, origin=GENERATED, text="Fill", select=True)
        finally:
            doc.undo_stack.endMacro()
        return ids, (f"Filled every part with variation {index + 1} ({len(ids)} notes in "
                     f"{len(added)} parts replace {len(inside)}). Undo brings the old "
                     f"notes back.")

    def _filled_tracks(self, result: Any) -> list[int]:
        """The tracks a fill replaces: every playable one for a polyphonic fill."""
        from engine.encodings.polyphony import playable_tracks

        if getattr(result, "track_of", None) is None:
            return [self.gap.track]
        return playable_tracks(self.panel.doc.song())

    def context_notes(self, result: Any, since: int | None = None) -> list[Note]:
        """The notes of the bar before the gap (from ``since``) and of the bar after it
        (on every part for a polyphonic fill)."""
        gap = self.gap
        song = self.panel.doc.song()
        if since is None:
            since = max(0, gap.start_tick - song.ticks_per_bar_at(max(0, gap.start_tick - 1)))
        after = gap.end_tick + song.ticks_per_bar_at(gap.end_tick)
        return [n for t in self._filled_tracks(result) for n in song.tracks[t].notes
                if since <= n.start_tick < gap.start_tick or gap.end_tick <= n.start_tick < after]

    def audition(self, result: Any, index: int, since: int) -> Song:
        """The bar before the gap, the variation, and the bar after it: on the active
        track, or every part's for a polyphonic fill."""
        if result.track_of is not None:
            return self._audition_parts(result, index, since)
        song = self.panel.doc.song()
        track = song.tracks[self.panel.doc.active_track]
        track.notes = sorted(self.context_notes(result, since)
                             + self.panel.variation_notes(index), key=Note.sort_key)
        song.tracks = [track]
        return song

    def _audition_parts(self, result: Any, index: int, since: int) -> Song:
        from engine.generation.polyfill import apply_parts

        gap = self.gap
        song = apply_parts(self.panel.doc.song(), gap.start_tick, gap.end_tick,
                           result.variations[index], result.track_of[index])
        after = gap.end_tick + song.ticks_per_bar_at(gap.end_tick)
        for track in song.tracks:
            track.notes = [n for n in track.notes if since <= n.start_tick < after]
        song.tracks = [t for t in song.tracks if t.notes]
        return song


__all__ = ["FillController", "FillRun", "Gap", "fill_models", "range_text"]
