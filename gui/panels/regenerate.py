"""Regenerate Part (Ctrl+Alt+G): one track written anew, over the ruler's time range or
all of it, while every other part stays note for note and the model hears them all.

:class:`RegenerateController` builds the engine's ``regenerate`` request (a part model:
the chosen one when it writes parts, else the default part model) through the Generate
panel's public methods and submits it; the panel shows the variations as it shows every
job's, and :class:`RegenerateRun` says how: the thumbnails show the parts that stay,
Play auditions the whole song over the range with the new part, and Keep replaces the
part's notes there in ONE undo step ("Regenerate part").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.generation.request import REGENERATE
from engine.song import Note, Song
from gui.document import GENERATED
from gui.panels.parts import default_polyphonic, polyphonic_models

NO_PART_MODEL = ("Regenerate Part needs a part model (one that writes every part, such as "
                 "poly-lstm), and none is installed in the models folder.")


@dataclass(frozen=True)
class Part:
    """The track to regenerate, and the range ``[start_tick, end_tick)`` (None: all of it)."""

    track: int
    start_tick: int | None = None
    end_tick: int | None = None

    def holds(self, note: Note) -> bool:
        """Whether ``note`` is one the job replaces (it starts in the range)."""
        return self.start_tick is None or self.start_tick <= note.start_tick < self.end_tick


class RegenerateController:
    """Regenerate Part for the Generate panel (``panel``: its public methods only)."""

    def __init__(self, panel: Any) -> None:
        self.panel = panel

    def chosen_part(self) -> Part:
        """The active track (the selected notes' track when they are all on another),
        over the ruler's time range if one is selected."""
        doc = self.panel.doc
        track = doc.active_track
        chosen = doc.seed_selection
        if chosen:
            tracks = {doc.track_of(i) for i in chosen}
            if track not in tracks and len(tracks) == 1:
                track = tracks.pop()
        time_range = self.panel.time_range()
        if time_range is not None:
            return Part(track, int(time_range[0]), int(time_range[1]))
        return Part(track)

    def model(self) -> str | None:
        """The chosen model when it writes parts, else the default part model."""
        name = self.panel.chosen_model()
        if name in polyphonic_models(self.panel.library):
            return name
        return default_polyphonic(self.panel.library)

    def start(self, part: Part | None = None) -> bool:
        """Regenerate ``part`` (default: :meth:`chosen_part`); False (with a message)
        when it cannot start."""
        panel = self.panel
        if panel.is_running():
            return False
        part = part or self.chosen_part()
        model = self.model()
        if model is None:
            panel.say(NO_PART_MODEL)
            return False
        song = panel.doc.song()
        if not 0 <= part.track < len(song.tracks):
            panel.say("Choose a track to regenerate.")
            return False
        track = song.tracks[part.track]
        if track.is_drum:
            panel.say(f"The track {track.name or part.track + 1!r} is a drum track: choose a "
                      f"part with pitches to regenerate.")
            return False
        settings = panel.checked_settings()
        if settings is None:
            return False
        request = panel.checked_request(
            REGENERATE, dataclasses.replace(settings, model=model, memory=False), song,
            track=part.track, start_tick=part.start_tick, end_tick=part.end_tick)
        if request is None:
            return False
        panel.save_settings()
        name = track.name or f"track {part.track + 1}"
        panel.submit(song, request, RegenerateRun(panel, part, song),
                     f"Regenerating {name} with {model}...")
        return True


class RegenerateRun:
    """The variations of one Regenerate Part: new notes for ``part`` of ``seed``."""

    locks_seed_key = False  # the key of the parts that stay, not the seed's

    def __init__(self, panel: Any, part: Part, seed: Song) -> None:
        self.panel = panel
        self.part = part
        self.seed = seed

    def new_notes(self, result: Any, index: int) -> list[Note]:
        """Variation ``index``'s notes for the part (those of its track, in the range,
        when the result gives every part's)."""
        notes = list(result.variations[index])
        track_of = getattr(result, "track_of", None)
        if track_of is not None:
            notes = [n for n, t in zip(notes, track_of[index]) if t == self.part.track]
        return sorted((n for n in notes if self.part.holds(n)), key=Note.sort_key)

    def again(self) -> bool:
        return self.panel.regenerate_part(self.part)

    def tail(self, result: Any) -> list[Note]:
        """The parts that stay, over the range: what each variation is written against."""
        part = self.part
        return [n for t, track in enumerate(self.seed.tracks)
                if t != part.track and not track.is_drum for n in track.notes
                if part.holds(n)]

    def details(self, result: Any) -> list[str]:
        return [f"{len(self.new_notes(result, i))} notes"
                for i in range(len(result.variations))]

    def headline(self, result: Any) -> str:
        n = len(result.variations)
        name = self.seed.tracks[self.part.track].name or f"track {self.part.track + 1}"
        return f"{n} variation{'s' if n != 1 else ''} of {name}"

    def song_with(self, song: Song, result: Any, index: int) -> Song:
        """``song`` with the part's notes replaced by variation ``index``'s."""
        part = self.part
        track = song.tracks[part.track]
        kept = [n for n in track.notes if not part.holds(n)]
        song.tracks[part.track] = dataclasses.replace(
            track, notes=sorted(kept + self.new_notes(result, index), key=Note.sort_key))
        return song

    def audition(self, result: Any, index: int, since: int) -> Song:
        """The whole song from ``since`` (over the range) with the new part."""
        song = self.song_with(self.panel.doc.song(), result, index)
        end = self.part.end_tick
        for track in song.tracks:
            track.notes = [n for n in track.notes
                           if n.start_tick >= since and (end is None or n.start_tick < end)]
        song.tracks = [t for t in song.tracks if t.notes]
        return song

    def clip(self, result: Any, index: int) -> Song | None:
        return None

    def keep(self, result: Any, index: int) -> tuple[list[int], str]:
        """Replace the part's notes (in the range) by variation ``index``'s: one undo
        step, "Regenerate part"; every other track stays as it is."""
        doc, part = self.panel.doc, self.part
        old = {i for i, n in doc.notes().items()
               if doc.track_of(i) == part.track and part.holds(n)}
        notes = self.new_notes(result, index)
        text = "Regenerate part"
        doc.undo_stack.beginMacro(text)
        try:
            doc.delete_notes(old, text=text)
            ids = doc.add_notes(notes, origin=GENERATED, text=text, track=part.track,
                                select=True)
        finally:
            doc.undo_stack.endMacro()
        return ids, (f"Kept variation {index + 1} of the part ({len(ids)} notes replace "
                     f"{len(old)}). Undo brings the old part back.")


__all__ = ["NO_PART_MODEL", "Part", "RegenerateController", "RegenerateRun"]
