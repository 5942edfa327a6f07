"""Polyphony in the composer: continue every part with a polyphonic model, harmonise a
melody, audition and keep the result.

A polyphonic model (one that writes every part: ``PARTS in
engine.encodings.capabilities_of(model)``) hears all the song's parts but the drums and
writes every note that sounds; the engine gives each new note back to a track
(:func:`engine.generation.polyphony.generate_polyphony`, ``track_of``).
:class:`PartsController` runs it as a job in the generation service through the
Generate panel's public ``submit`` (:class:`gui.worker.GenerationJob`, ``polyphonic``);
the panel shows the variations as it shows a melody's, and :class:`PartsRun` says how:

* Generate with a polyphonic model continues every part of the song (or of the notes
  the user selected) from its end;
* Harmonise (Ctrl+Shift+H) writes the voices beneath the active track's melody (the
  selected notes' track when notes are selected), with the chosen polyphonic model or
  else poly-duo, as the command line's ``harmonise`` does: the melody is never
  changed, the song's own parts beneath it (a bass track) are kept and written where
  they rest, and only the missing voices become new tracks;
* Play auditions the whole variation, every part; Keep adds each new note to its track,
  and a harmonisation's voices as new tracks after the song's, in ONE undo step
  (:meth:`gui.document.SongDocument.add_parts`).

How a variation becomes parts of a song is the engine's
(:func:`engine.generation.parts_song.song_with_parts`), so the composer and ``continuo
generate`` / ``continuo harmonise`` write the same tracks.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any

from engine.encodings import HARMONISE
from engine.generation.parts_song import POLYPHONIC_DEFAULTS, song_with_parts
from engine.song import Note, Song
from gui.document import GENERATED
from gui.worker import is_polyphonic_model

NO_POLYPHONIC_MODEL = ("Harmonising needs a polyphonic model (one that writes every part, "
                       "such as poly-lstm), and none is installed in the models folder.")


@dataclass(frozen=True)
class PolyRun:
    """What a polyphonic job's variations belong to: the song the engine heard (the
    song's parts, or for a harmonisation the melody alone) and, for a harmonisation,
    the document's track whose melody it is."""

    seed: Song
    harmonised_track: int | None = None

    @property
    def harmonising(self) -> bool:
        return self.harmonised_track is not None


# ---- models ------------------------------------------------------------------------------
def polyphonic_models(library: Any) -> list[str]:
    return [n for n in getattr(library, "names", []) or [] if is_polyphonic_model(library, n)]


def default_polyphonic(library: Any) -> str | None:
    """The polyphonic model a seed of several voices gets (poly-duo when installed)."""
    found = polyphonic_models(library)
    return next((n for n in POLYPHONIC_DEFAULTS if n in found), found[0] if found else None)


def seed_has_voices(song: Song | None) -> bool:
    """Whether more than one note sounds at once in the song's pitched parts."""
    from engine.generation.polyphony import seed_voices

    return seed_voices(song) > 1


# ---- starting ------------------------------------------------------------------------------
def seed_song(doc: Any) -> Song:
    """What a polyphonic Generate continues: every part of ``doc``'s song, or, when notes
    are selected, only those (each on its own track)."""
    song = doc.song()
    chosen = doc.seed_selection
    if chosen:
        notes = doc.notes()
        picked: dict[int, list[Note]] = {}
        for i in chosen:
            picked.setdefault(doc.track_of(i), []).append(notes[i])
        for t, track in enumerate(song.tracks):
            track.notes = sorted(picked.get(t, []), key=Note.sort_key)
        song.length_ticks = None  # the seed ends with the selection, not the file
    return song


def melody_to_harmonise(doc: Any) -> int:
    """The document track holding the melody: the selected notes' (the active track's
    when some of them are on it), else the active track."""
    chosen = doc.seed_selection
    if chosen:
        tracks = {doc.track_of(i) for i in chosen}
        if doc.active_track not in tracks:
            return min(tracks)
    return doc.active_track


class PartsController:
    """Every part for the Generate panel (``panel``: its public methods only): continue
    them all, or harmonise a melody."""

    def __init__(self, panel: Any) -> None:
        self.panel = panel

    def generate(self, request: Any) -> bool:
        """Continue every part: ``request`` is the panel's checked continuation with a
        polyphonic model."""
        panel = self.panel
        seed = seed_song(panel.doc)
        panel.submit(seed, request, PartsRun(panel, PolyRun(seed)),
                     "Generating every part from the selection..." if panel.from_selection()
                     else "Generating every part...")
        return True

    def harmonise(self) -> bool:
        """Start harmonising the melody; False (with a message) when it cannot start."""
        panel = self.panel
        if panel.is_running():
            return False
        model = panel.chosen_model()
        if not is_polyphonic_model(panel.library, model):
            model = default_polyphonic(panel.library)
        if model is None:
            panel.say(NO_POLYPHONIC_MODEL)
            return False
        track = melody_to_harmonise(panel.doc)
        song = panel.doc.song()
        melody = song.tracks[track]
        if melody.is_drum:
            panel.say(f"The track {melody.name or track + 1!r} is a drum track: choose the "
                      f"track with the melody to harmonise.")
            return False
        if not melody.notes:
            panel.say("There is no melody to harmonise on this track: draw or open one "
                      "first.")
            return False
        settings = panel.checked_settings()
        if settings is None:
            return False
        request = panel.checked_request(
            HARMONISE, dataclasses.replace(settings, model=model), track=track)
        if request is None:
            return False
        panel.save_settings()
        # the whole song, as `continuo harmonise` hears it: its own parts beneath the
        # melody are kept and filled where they rest, the missing voices come as new tracks
        panel.submit(song, request, PartsRun(panel, PolyRun(song, track)),
                     f"Harmonising {melody.name or 'the melody'} with {model}...")
        return True


# ---- showing, auditioning and keeping --------------------------------------------------------
def parts_of(result: Any, index: int) -> int:
    return len(set((result.track_of or [[]])[index]))


def _in_document(run: PolyRun, result: Any, tracks_now: int) -> Any:
    """The result with a harmonisation's track numbers moved to the document's: the
    song's own tracks stay, the new voices go after its current tracks."""
    if not run.harmonising:
        return result
    base = len(run.seed.tracks)
    track_of = [[t if t < base else tracks_now + t - base for t in row]
                for row in (result.track_of or [])]
    return dataclasses.replace(result, track_of=track_of)


def _unique(name: str, taken: set[str]) -> str:
    """A new voice's name, told apart from the song's tracks ("Bass" beside a bass)."""
    out = name if name not in taken else f"{name} (harmony)"
    taken.add(out)
    return out


class PartsRun:
    """The variations of one polyphonic job: every part continued, or a harmonisation."""

    def __init__(self, panel: Any, run: PolyRun) -> None:
        self.panel = panel
        self.run = run

    @property
    def harmonising(self) -> bool:
        return self.run.harmonising

    @property
    def locks_seed_key(self) -> bool:
        return not self.run.harmonising  # a harmonisation locks the melody's key

    def again(self) -> bool:
        return self.panel.harmonise() if self.run.harmonising else self.panel.generate()

    def tail(self, result: Any) -> list[Note]:
        """What the thumbnails show before (or, for a harmonisation, under) the
        variations: every part's last bar, or the melody."""
        run = self.run
        if run.harmonising:
            return list(run.seed.tracks[run.harmonised_track].notes)
        start = result.start_tick
        since = start - run.seed.ticks_per_bar_at(max(0, start - 1))
        return [n for t in run.seed.tracks if not t.is_drum for n in t.notes
                if n.end_tick > since]

    def details(self, result: Any) -> list[str]:
        """The line under each variation's title: its notes in how many parts."""
        lines = []
        for i, notes in enumerate(result.variations):
            parts = parts_of(result, i)
            what = "voices" if self.run.harmonising else "parts"
            lines.append(f"{len(notes)} notes in {parts} {what[:-1] if parts == 1 else what}")
        return lines

    def headline(self, result: Any) -> str:
        run = self.run
        n = len(result.variations)
        if run.harmonising:
            name = run.seed.tracks[run.harmonised_track].name or "the melody"
            return f"{n} harmonisation{'s' if n != 1 else ''} of {name}"
        parts = max((parts_of(result, i) for i in range(n)), default=0)
        return (f"{n} variation{'s' if n != 1 else ''} of {parts} "
                f"part{'s' if parts != 1 else ''}")

    def audition(self, result: Any, index: int, since: int) -> Song:
        """The whole variation as a song to play from ``since``: every part the model
        heard (the seed's last bar, or the whole melody) with the new notes on their
        tracks."""
        song = song_with_parts(self.run.seed, result, index)
        for track in song.tracks:
            track.notes = [n for n in track.notes if n.start_tick >= since]
        song.tracks = [t for t in song.tracks if t.notes]
        return song

    def keep(self, result: Any, index: int) -> tuple[list[int], str]:
        """Add variation ``index`` to the document: each note to its track, a
        harmonisation's voices as new tracks; one undo step."""
        doc, run = self.panel.doc, self.run
        current = doc.song()
        applied = song_with_parts(current, _in_document(run, result, len(current.tracks)),
                                  index)
        added: dict[int, list[Note]] = {}
        new_tracks = []  # the new tracks that receive notes, in order (no empty voice)
        taken = {t.name for t in current.tracks}
        for t, track in enumerate(applied.tracks):
            before = Counter(current.tracks[t].notes) if t < len(current.tracks) else Counter()
            new = sorted((Counter(track.notes) - before).elements(), key=Note.sort_key)
            if not new:
                continue
            if t < len(current.tracks):
                added[t] = new
            else:
                added[len(current.tracks) + len(new_tracks)] = new
                new_tracks.append(dataclasses.replace(track, notes=[],
                                                      name=_unique(track.name, taken)))
        text = "Keep harmonisation" if run.harmonising else "Keep variation"
        ids = doc.add_parts(added, new_tracks, origin=GENERATED, text=text, select=True)
        if run.harmonising:
            names = ", ".join(t.name for t in new_tracks)
            own = len([t for t in added if t < len(current.tracks)])
            into = f" and {own} of the song's own" if own else ""
            return ids, (f"Kept harmonisation {index + 1}: {len(ids)} notes in "
                         f"{len(new_tracks)} new track{'s' if len(new_tracks) != 1 else ''}"
                         f"{' (' + names + ')' if names else ''}{into}. Undo removes them.")
        return ids, (f"Kept variation {index + 1} ({len(ids)} notes in {len(added)} "
                     f"part{'s' if len(added) != 1 else ''}). Undo removes it.")

    def clip(self, result: Any, index: int) -> Song:
        """Variation ``index`` as a clip to drag out: its new notes on their tracks (each
        with its name, channel and instrument), moved to start at tick 0."""
        from gui.files import clip_song

        run = self.run
        notes = self.panel.variation_notes(index)
        clip = clip_song(notes, self.panel.doc.song(), "Continuo clip")  # raises if empty
        applied = song_with_parts(run.seed, result, index)
        first = min(n.start_tick for n in notes)
        tracks = []
        for t, track in enumerate(applied.tracks):
            before = Counter(run.seed.tracks[t].notes) if t < len(run.seed.tracks) else Counter()
            new = sorted((Counter(track.notes) - before).elements(), key=Note.sort_key)
            if new:
                tracks.append(dataclasses.replace(track,
                                                  notes=[n.moved(-first, 0) for n in new]))
        clip.tracks = tracks
        return clip


__all__ = ["NO_POLYPHONIC_MODEL", "PartsController", "PartsRun", "PolyRun",
           "default_polyphonic", "melody_to_harmonise", "polyphonic_models", "seed_has_voices",
           "seed_song"]
