"""Fill: regenerate the selected span of the active track from the music on both sides.

The span is the time range selected in the piano roll's ruler (a Shift drag there) when
there is one, else the selected notes' (from the first one's start to the last one's
end; the same span that L loops).  The main window hands the panel the roll's
``time_range``; the range outlives Keep, so the same bars can be filled again, and
selecting it is view state, never an undo step.  The Generate panel runs the fill as a
job in the generation service (:class:`gui.worker.GenerationJob` with an
``end_tick``), shows the variations in place as it shows continuations, and Keep
replaces the span's notes with the chosen variation in one undo step ("Fill").  The
engine decides what a gap means (:mod:`engine.generation.fill`): notes that start
inside it are replaced, every other note stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from engine.generation.fill import split_at_gap
from engine.song import Note, Song
from gui.document import GENERATED

if TYPE_CHECKING:
    from gui.panels.generate import GeneratePanel


@dataclass(frozen=True)
class Gap:
    start_tick: int
    end_tick: int
    track: int


def use_time_range(panel: "GeneratePanel", time_range: Callable[[], tuple[int, int] | None]
                   ) -> None:
    """Let Fill take the ruler's range: ``time_range`` is the roll's method of that name."""
    panel.time_range = time_range  # type: ignore[attr-defined]


def range_text(song: Song, start: int, end: int) -> str:
    """What the status bar says about a time range just selected."""
    (bar0, beat0, in0), (bar1, beat1, in1) = song.bar_beat_at(start), song.bar_beat_at(end)
    if (beat0, in0, beat1, in1) == (1, 0, 1, 0):  # whole bars
        span = f"Bar {bar0}" if bar1 == bar0 + 1 else f"Bars {bar0}-{bar1 - 1}"
    else:
        span = f"From {bar0}.{beat0} to {bar1}.{beat1} (bar.beat)"
    return f"{span} selected: Fill (Ctrl+Shift+F) regenerates them, Escape clears the range"


def selected_gap(panel: "GeneratePanel") -> Gap | None:
    """The ruler's time range on the active track, else the span of the selected notes
    there, or None."""
    doc = panel.doc
    track = doc.active_track
    time_range = getattr(panel, "time_range", lambda: None)()
    if time_range is not None:
        return Gap(*time_range, track)
    selected = [n for i, n in doc.selected_notes().items() if doc.track_of(i) == track]
    if not selected:
        return None
    return Gap(min(n.start_tick for n in selected), max(n.end_tick for n in selected), track)


def fill_models(panel: "GeneratePanel") -> list[str]:
    return [m.name for m in getattr(panel.library, "models", []) or []
            if "fill" in getattr(m, "jobs", ())]


def start_fill(panel: "GeneratePanel", gap: Gap | None = None) -> bool:
    """Start filling ``gap`` (default: the selected range or span); False (with a
    message) when it cannot start."""
    from gui.worker import GenerationJob

    if panel.job is not None:
        return False
    gap = gap or selected_gap(panel)
    if gap is None:
        panel._say("Select the notes of the bars to fill (a rubber band over them), or drag "
                   "with Shift in the ruler over those bars: Fill replaces them from the "
                   "music on both sides.")
        return False
    try:
        settings = panel.settings()
    except Exception as e:  # settings out of range are GenerationErrors
        panel._say(str(e))
        return False
    from gui.worker import is_polyphonic_model

    polyphonic = is_polyphonic_model(panel.library, settings.model)  # fills every part
    models = fill_models(panel)
    if settings.model not in models and not polyphonic:
        if not models:
            panel._say(f"The model {settings.model} was trained to continue, not to fill, and "
                       f"no model that fills was found.")
            return False
        # the chosen model only continues: its fill twin, else the first that fills
        twin = f"{settings.model}-fill"
        settings.model = twin if twin in models else models[0]
    panel.save_settings()
    song = panel.doc.song()
    panel._seed_for_result = song
    panel.job = GenerationJob(panel.library, song, settings, track_index=gap.track,
                              start_tick=gap.start_tick, end_tick=gap.end_tick, parent=panel,
                              use_helper_process=panel.use_helper_process)
    panel.job.fill_gap = gap
    panel._start_job(f"Filling {'every part ' if polyphonic else ''}with {settings.model}...")
    return True


def keep_fill(panel: "GeneratePanel", index: int) -> list[int]:
    """Replace the gap's notes by variation ``index``: one undo step, "Fill"."""
    gap: Gap = panel.fill_gap
    doc = panel.doc
    if panel.result.track_of is not None:  # a polyphonic fill: every part
        return _keep_parts(panel, index)
    notes = panel.variation_notes(index)
    panel.preview.emit(None)
    on_track = {i: n for i, n in doc.notes().items() if doc.track_of(i) == gap.track}
    _, inside, _ = split_at_gap(list(on_track.values()), gap.start_tick, gap.end_tick)
    inside_ids = {i for i, n in on_track.items()
                  if gap.start_tick <= n.start_tick < gap.end_tick}
    doc.undo_stack.beginMacro("Fill")
    try:
        doc.delete_notes(inside_ids, text="Fill")
        ids = doc.add_notes(notes, origin=GENERATED, text="Fill", track=gap.track, select=True)
    finally:
        doc.undo_stack.endMacro()
    panel.status.emit(f"Filled with variation {index + 1} ({len(ids)} notes replace "
                      f"{len(inside)}). Undo brings the old notes back.")
    panel.kept.emit(ids)
    return ids


def _keep_parts(panel: "GeneratePanel", index: int) -> list[int]:
    """A polyphonic fill: the gap's notes on every part replaced by each part's notes of
    variation ``index``, in one undo step ("Fill")."""
    gap: Gap = panel.fill_gap
    doc = panel.doc
    parts = set(_filled_tracks(panel))
    inside = {i for i, n in doc.notes().items()
              if doc.track_of(i) in parts and gap.start_tick <= n.start_tick < gap.end_tick}
    added: dict[int, list[Note]] = {}
    for n, t in zip(panel.result.variations[index], panel.result.track_of[index]):
        added.setdefault(t, []).append(n)
    panel.preview.emit(None)
    doc.undo_stack.beginMacro("Fill")
    try:
        doc.delete_notes(inside, text="Fill")
        ids = doc.add_parts(added, origin=GENERATED, text="Fill", select=True)
    finally:
        doc.undo_stack.endMacro()
    panel.status.emit(f"Filled every part with variation {index + 1} ({len(ids)} notes in "
                      f"{len(added)} parts replace {len(inside)}). Undo brings the old notes "
                      f"back.")
    panel.kept.emit(ids)
    return ids


def _filled_tracks(panel: "GeneratePanel") -> list[int]:
    """The tracks a fill replaces: every playable one for a polyphonic fill."""
    from engine.encodings.polyphony import playable_tracks

    if getattr(panel.result, "track_of", None) is None:
        return [panel.fill_gap.track]
    return playable_tracks(panel.doc.song())


def context_notes(panel: "GeneratePanel", since: int | None = None) -> list[Note]:
    """The notes of the bar before the gap (from ``since``) and of the bar after it
    (on every part for a polyphonic fill)."""
    gap: Gap = panel.fill_gap
    song = panel.doc.song()
    if since is None:
        since = max(0, gap.start_tick - song.ticks_per_bar_at(max(0, gap.start_tick - 1)))
    after = gap.end_tick + song.ticks_per_bar_at(gap.end_tick)
    return [n for t in _filled_tracks(panel) for n in song.tracks[t].notes
            if since <= n.start_tick < gap.start_tick or gap.end_tick <= n.start_tick < after]


def audition_parts(panel: "GeneratePanel", index: int, since: int) -> Song:
    """A polyphonic fill's audition: every part's bar before the gap, the variation's
    notes on their tracks, and the bar after."""
    from engine.generation.polyfill import apply_parts

    gap: Gap = panel.fill_gap
    song = panel.doc.song()
    song = apply_parts(song, gap.start_tick, gap.end_tick, panel.result.variations[index],
                       panel.result.track_of[index])
    after = gap.end_tick + song.ticks_per_bar_at(gap.end_tick)
    for track in song.tracks:
        track.notes = [n for n in track.notes if since <= n.start_tick < after]
    song.tracks = [t for t in song.tracks if t.notes]
    return song


def audition_notes(panel: "GeneratePanel", index: int, since: int) -> list[Note]:
    """What a fill's audition plays: the bar before the gap, the variation, and the bar
    after it."""
    return sorted(context_notes(panel, since) + panel.variation_notes(index),
                  key=Note.sort_key)
