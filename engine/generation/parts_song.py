"""Part music in a song: which model a seed of several voices gets, whether a model
writes every part at once, and the song a polyphonic result makes (its notes added to
their tracks, a harmonisation's voices as new tracks).

The command line (``continuo generate`` / ``harmonise``) and the composer both write a
polyphonic result through :func:`song_with_parts`, so they write the same tracks.
"""

from __future__ import annotations

from engine.encodings import PARTS, capabilities_of
from engine.generation.sampling import GenerationResult
from engine.song import DRUM_CHANNEL, Note, Song, Track

# the models a seed of several voices gets when no --model is given, best first
POLYPHONIC_DEFAULTS = ("poly-duo", "poly-wavenet", "poly-lstm")  # the best held-out figures first
MELODY_DEFAULT = "lstm"


def default_model(library, seed: Song | None) -> str:
    """The model a seed gets when none is named: a polyphonic one for several voices
    (when one is installed), else the melody LSTM."""
    from engine.generation.polyphony import seed_voices

    if seed_voices(seed) > 1:
        for name in POLYPHONIC_DEFAULTS:
            if name in library.names:
                return name
        polyphonic = [n for n in library.names if PARTS in capabilities_of(library.info(n))]
        if polyphonic:
            return polyphonic[0]
    return MELODY_DEFAULT


def is_polyphonic_name(library, name: str) -> bool:
    """Whether the installed model ``name`` is polyphonic (False when it is not there:
    the melody path then says so)."""
    return name in library.names and PARTS in capabilities_of(library.info(name))


def song_with_parts(seed: Song | None, result: GenerationResult, variation: int,
                    continuation_only: bool = False) -> Song:
    """The seed with a polyphonic variation's notes added to their tracks (new tracks
    for a harmonisation's voices, or for an empty seed; a new track whose notes are on
    the drum channel, Add Drums', a drum track), and its continued drums
    (:func:`song_with_drums`)."""
    notes = result.variations[variation]
    tracks_of = (result.track_of or [[]])[variation]
    song = seed.copy() if seed is not None else Song()
    if continuation_only:
        for track in song.tracks:
            if not track.is_drum:
                track.notes = []
    base = len(song.tracks)
    program = _melody_program(song)
    drums = _new_drum_tracks(result, base)
    for i, name in enumerate(result.new_tracks):
        if base + i in drums:
            song.tracks.append(Track(name=name, channel=DRUM_CHANNEL, is_drum=True))
        else:
            song.tracks.append(Track(name=name, channel=_free_channel(song), program=program))
    wanted = max(tracks_of, default=-1) + 1
    while len(song.tracks) < wanted:
        song.tracks.append(Track(name="Continuation"))
    added: dict[int, list[Note]] = {}
    for n, t in zip(notes, tracks_of):
        channel = song.tracks[t].channel if t >= base else n.channel
        added.setdefault(t, []).append(Note(n.pitch, n.start_tick, n.duration_ticks,
                                            n.velocity, channel))
    for t, new in added.items():
        song.tracks[t].notes = sorted(song.tracks[t].notes + new, key=Note.sort_key)
    return _add_drums(song, result, variation)


def _new_drum_tracks(result: GenerationResult, base: int) -> set[int]:
    """The new tracks (numbered from ``base``) whose notes, in any variation, are on the
    drum channel."""
    return {t for row, tracks in zip(result.variations, result.track_of or [])
            for n, t in zip(row, tracks) if t >= base and n.channel == DRUM_CHANNEL}


def drums_by_track(result: GenerationResult, variation: int) -> dict[int, list[Note]]:
    """{drum track: its new notes} that variation ``variation`` of a continuation brought
    (``result.drums`` onto ``result.drum_track``, or each note onto its own,
    ``result.drum_track_of``, where several drum tracks went on); empty when none."""
    if not result.drums or result.drum_track is None:
        return {}
    notes = list(result.drums[variation])
    of = result.drum_track_of
    tracks = of[variation] if of else [result.drum_track] * len(notes)
    added: dict[int, list[Note]] = {}
    for n, t in zip(notes, tracks):
        added.setdefault(int(t), []).append(n)
    return added


def _add_drums(song: Song, result: GenerationResult, variation: int) -> Song:
    for t, new in drums_by_track(result, variation).items():
        if 0 <= t < len(song.tracks):
            track = song.tracks[t]
            track.notes = sorted(track.notes + new, key=Note.sort_key)
    return song


def song_with_drums(song: Song, result: GenerationResult, variation: int) -> Song:
    """A copy of ``song`` with a variation's continued drums (``result.drums``, which a
    continuation of a song with a drum track carries) added to ``result.drum_track``
    (each to its own track, ``result.drum_track_of``, where several went on)."""
    return _add_drums(song.copy(), result, variation)


def _free_channel(song: Song) -> int:
    """A channel no track of ``song`` uses, never the drums' (10); the first one when
    all are taken."""
    used = {t.channel for t in song.tracks} | {n.channel for t in song.tracks
                                               for n in t.notes}
    return next((c for c in range(16) if c != 9 and c not in used), 0)


def _melody_program(song: Song) -> int:
    """The instrument of new voices: the song's melody's (its highest pitched track), so
    a piano melody is harmonised on the piano and a choir's in the choir."""
    pitched = [t for t in song.tracks if t.notes and not t.is_drum]
    if not pitched:
        return 0
    return max(pitched, key=lambda t: sum(n.pitch for n in t.notes) / len(t.notes)).program
