"""What a caller asks the engine to generate: one request, validated where it is built.

:class:`GenerationSettings` is what the user chose (model, temperature, top-p, length,
variations, random seed, key lock, pitch range, motif memory, style, the steering
controls of CONTROLS);
:class:`GenerationRequest` adds the job (continue, fill, harmonise, regenerate) and what
the job works on (the track, where to start, the gap).  Both refuse a bad value with a sentence
(:class:`~engine.errors.GenerationError`) when they are built, so the GUI can say what
is wrong before any round trip to the helper process; the limits they check are
:mod:`engine.limits`' (MAX_TEMPERATURE, MAX_BARS, MAX_VARIATIONS, MAX_STEPS).  The
engine chooses the job from a request in one place, :func:`engine.generation.jobs.run`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.encodings import CONTINUE, FILL, HARMONISE, Key
from engine.errors import EncodingError, GenerationError
from engine.limits import MAX_BARS, MAX_STEPS, MAX_TEMPERATURE, MAX_VARIATIONS
from engine.song import Song

#: Regenerate Part: one track's notes (over a range, or all of it) written anew while
#: every other part stays note for note (engine/generation/jobs/regenerate.py)
REGENERATE = "regenerate"
#: Add Drums: a new drum track for the whole song, written by a drum model in the
#: request's ``drum_style`` (engine/generation/jobs/drums.py)
DRUMS = "drums"
JOBS = (CONTINUE, FILL, HARMONISE, REGENERATE, DRUMS)

#: The steering controls: (setting's name, what it steers, its label at -2, its label at
#: +2).  Each is a whole number from -CONTROL_MAX to CONTROL_MAX; 0 is neutral (the music
#: is byte for byte what it was without the control).
CONTROLS = (
    ("density", "density", "Sparser", "Busier"),
    ("leaps", "leaps", "Steps", "Leaps"),
    ("repeat", "repeat", "Repeat less", "Repeat more"),
    ("register", "register", "Lower", "Higher"),
    ("syncopation", "syncopation", "Simpler rhythm", "Syncopated"),
    ("dynamics", "dynamics", "Softer, even", "Louder, more dynamic"),
)
CONTROL_MAX = 2
#: the controls that may take a value of their own per part of a model that writes
#: several parts (``GenerationSettings.part_controls``); repeat scales the one motif
#: memory every part shares
PART_CONTROL_NAMES = ("density", "leaps", "register", "syncopation", "dynamics")


#: Follow chords: "off" (the chord track is not heard), "loose" (a mixer raises the
#: chord tones' probability), "strict" (strong beats only chord tones, weak beats pass by
#: step: engine/generation/constraints/chords.py)
FOLLOW_CHORDS = ("off", "loose", "strict")


def bar_of(song: Song, tick: int) -> int:
    """The number of the bar ``tick`` falls in, as the score numbers it."""
    return song.bar_beat_at(max(0, tick))[0]


def checked_gap(song: Song, start_tick, end_tick) -> tuple[int, int]:
    """The gap's ends as whole ticks, refused with a sentence when they make no gap."""
    if isinstance(start_tick, bool) or isinstance(end_tick, bool) \
            or not isinstance(start_tick, (int, np.integer)) \
            or not isinstance(end_tick, (int, np.integer)):
        raise GenerationError("the gap's start and end must be whole ticks")
    start_tick, end_tick = int(start_tick), int(end_tick)
    if start_tick < 0:
        raise GenerationError(f"the gap cannot start before the song (tick {start_tick})")
    if end_tick <= start_tick:
        raise GenerationError(f"the gap is empty: it ends (tick {end_tick}) where or before "
                              f"it starts (tick {start_tick}, bar {bar_of(song, start_tick)}); "
                              f"choose a range of at least one step to fill")
    return start_tick, end_tick


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise GenerationError(f"{what} must be a number, not {value!r}")
    return float(value)


def _whole(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise GenerationError(f"{what} must be a whole number, not {value!r}")
    return int(value)


@dataclass
class GenerationSettings:
    """What the user chose; :meth:`validate` says in a sentence what is out of range."""

    model: str = "lstm"
    temperature: float = 1.0  # 0 (always the most likely note) .. 2 (wild)
    top_p: float = 1.0  # 0 < p <= 1: sample only from the most likely tokens covering p
    bars: int = 4  # 1 .. 32
    steps: int | None = None  # overrides bars when given
    variations: int = 1  # 1 .. 8, generated together
    rng_seed: int = 0
    key: str | None = "auto"  # "auto": the seed's key; None: no key lock; or "C", "Am", ...
    min_pitch: int | None = None
    max_pitch: int | None = None
    memory: bool = True  # the motif memory (engine.generation.memory) mixed in
    # a style (engine.generation.style) mixed in: a folder of music or a saved style's JSON
    style: str | None = None
    # more steering by name: constraints (engine.generation.constraints) that narrow
    # each step, mixers (engine.generation.mixers) chained after the memory and style
    constraints: tuple[str, ...] = ()
    mixers: tuple[str, ...] = ()
    # the steering controls (CONTROLS), each a whole number -2..2; 0 leaves the music as it was
    density: int = 0
    leaps: int = 0
    repeat: int = 0
    register: int = 0
    syncopation: int = 0
    dynamics: int = 0
    # the chord track heard (FOLLOW_CHORDS): "off", "loose" or "strict"
    follow_chords: str = "off"
    # per part of a model that writes several parts: (track index from 0, control name,
    # position -2..2), each overriding that control for that track's part (the others
    # take the control's own value); () for none
    part_controls: tuple[tuple[int, str, int], ...] = ()

    def __post_init__(self) -> None:
        # lists (from JSON, a preset) become the immutable tuples a request holds
        if isinstance(self.part_controls, list) and all(
                isinstance(e, (list, tuple)) for e in self.part_controls):
            self.part_controls = tuple(tuple(e) for e in self.part_controls)

    def control_of(self, name: str, track: int | None) -> int:
        """The position of the control ``name`` for the part writing ``track`` (None: a
        new voice): its own value in ``part_controls`` when it has one, else the
        control's."""
        if track is not None:
            for t, n, value in self.part_controls:
                if t == track and n == name:
                    return int(value)
        return int(getattr(self, name))

    def steers_parts(self) -> bool:
        """Whether any control of a part model is away from 0 (its own or a part's)."""
        return any(getattr(self, n) for n in PART_CONTROL_NAMES) or \
            any(value for _, _, value in self.part_controls)

    def controls(self) -> dict[str, int]:
        """The controls that are not neutral, by name (empty when every one is 0)."""
        return {name: getattr(self, name) for name, _, _, _ in CONTROLS
                if getattr(self, name) != 0}

    def validate(self) -> None:
        number, whole = _number, _whole
        if not isinstance(self.model, str) or not self.model:
            raise GenerationError("choose a model to generate with")
        t = number(self.temperature, "the temperature")
        if not 0.0 <= t <= MAX_TEMPERATURE:
            raise GenerationError(f"the temperature must be between 0 and {MAX_TEMPERATURE:g}, "
                                  f"not {self.temperature:g}")
        p = number(self.top_p, "top-p")
        if not 0.0 < p <= 1.0:
            raise GenerationError(f"top-p must be above 0 and at most 1, not {self.top_p:g}")
        if self.steps is None:
            bars = whole(self.bars, "the number of bars")
            if not 1 <= bars <= MAX_BARS:
                raise GenerationError(f"the number of bars must be between 1 and {MAX_BARS}, "
                                      f"not {bars}")
        else:
            steps = whole(self.steps, "the number of steps")
            if not 1 <= steps <= MAX_STEPS:
                raise GenerationError(f"the number of steps must be between 1 and "
                                      f"{MAX_STEPS}, not {steps}")
        k = whole(self.variations, "the number of variations")
        if not 1 <= k <= MAX_VARIATIONS:
            raise GenerationError(f"the number of variations must be between 1 and "
                                  f"{MAX_VARIATIONS}, not {k}")
        seed = whole(self.rng_seed, "the random seed")
        if seed < 0:
            raise GenerationError(f"the random seed must be zero or more, not {seed}")
        if self.key is not None and self.key != "auto":
            if not isinstance(self.key, str):
                raise GenerationError(f"the key must be a name such as C or Am, not {self.key!r}")
            try:
                Key.parse(self.key)
            except EncodingError as e:
                raise GenerationError(str(e)) from None
        for value, what in ((self.min_pitch, "the lowest pitch"),
                            (self.max_pitch, "the highest pitch")):
            if value is not None and not 0 <= whole(value, what) <= 127:
                raise GenerationError(f"{what} must be a MIDI note number 0-127, not {value}")
        if not isinstance(self.memory, bool):
            raise GenerationError(f"the motif memory is on or off, not {self.memory!r}")
        if self.style is not None and (not isinstance(self.style, str) or not self.style):
            raise GenerationError(f"a style is a folder of music or a saved style, "
                                  f"not {self.style!r}")
        _check_names(self.constraints, "constraint")
        _check_names(self.mixers, "mixer")
        for name, what, _, _ in CONTROLS:
            value = whole(getattr(self, name), f"the {what} control")
            if not -CONTROL_MAX <= value <= CONTROL_MAX:
                raise GenerationError(f"the {what} control must be a whole number from "
                                      f"{-CONTROL_MAX} to {CONTROL_MAX}, not {value}")
        if self.follow_chords not in FOLLOW_CHORDS:
            raise GenerationError(f"follow chords is off, loose or strict, not "
                                  f"{self.follow_chords!r}")
        _check_part_controls(self.part_controls)
        if self.repeat and not self.memory:
            raise GenerationError("the repeat control steers the motif memory, which is off: "
                                  "turn the memory on or set repeat to 0")
        if (self.min_pitch is not None and self.max_pitch is not None
                and self.min_pitch > self.max_pitch):
            raise GenerationError(f"the lowest pitch ({self.min_pitch}) is above the highest "
                                  f"({self.max_pitch})")


def _check_part_controls(entries) -> None:
    """Each part control a (track from 0, control, position) triple, a track named once
    per control."""
    if not isinstance(entries, tuple):
        raise GenerationError(f"the part controls are a tuple of (track, control, "
                              f"position), not {entries!r}")
    seen = set()
    for entry in entries:
        if not isinstance(entry, tuple) or len(entry) != 3:
            raise GenerationError(f"a part control is (track, control, position), not "
                                  f"{entry!r}")
        track, name, value = entry
        track = _whole(track, "a part control's track")
        if track < 0:
            raise GenerationError(f"a part control's track is numbered from 0, not {track}")
        if name not in PART_CONTROL_NAMES:
            why = " (the repeat control scales the motif memory all the parts share)" \
                if name == "repeat" else ""
            raise GenerationError(f"there is no part control {name!r}{why}; there are "
                                  f"{', '.join(PART_CONTROL_NAMES)}")
        value = _whole(value, f"the {name} control of track {track + 1}")
        if not -CONTROL_MAX <= value <= CONTROL_MAX:
            raise GenerationError(f"the {name} control of track {track + 1} must be a whole "
                                  f"number from {-CONTROL_MAX} to {CONTROL_MAX}, not {value}")
        if (track, name) in seen:
            raise GenerationError(f"track {track + 1} has two values for the {name} control")
        seen.add((track, name))


def _registry(what: str) -> tuple[dict, dict[str, str]]:
    """The registry of ``what`` ("constraint" or "mixer"), and those of its names that a
    request does not name, each with what stands for it instead."""
    if what == "constraint":
        from engine.generation.constraints import CONSTRAINTS
        return CONSTRAINTS, {
            "key": "the key lock is the key setting",
            "range": "the pitch range is the lowest and highest pitch",
            "grammar": "the part grammar is a part model's own"}
    from engine.generation.mixers import MIXERS
    return MIXERS, {"memory": "the motif memory is the memory setting",
                    "style": "a style is the style setting",
                    **{name: f"the {steers} control is the {name} setting (-2..2)"
                       for name, steers, _, _ in CONTROLS}}


def nameable(what: str) -> list[str]:
    """The constraints (``what`` "constraint") or mixers ("mixer") a request may name in
    ``settings.constraints`` / ``settings.mixers``: the registry's, less those that
    settings of their own stand for."""
    known, built_in = _registry(what)
    return sorted(set(known) - set(built_in))


def _check_names(names, what: str) -> None:
    if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
        raise GenerationError(f"the {what}s are a list of names, not {names!r}")
    if not names:
        return
    known, built_in = _registry(what)
    for name in names:
        if name in built_in:
            raise GenerationError(f"{built_in[name]}, not a {what} to name")
        if name not in known:
            raise GenerationError(f"there is no {what} {name!r}; there are "
                                  f"{', '.join(sorted(known))}")


@dataclass(frozen=True)
class GenerationRequest:
    """One job for the engine, checked when it is built (a GenerationError with a
    sentence when something is wrong):

    * ``job``: ``"continue"`` (the seed's ``track``, default its melody, from
      ``start_tick``, default the first beat after it; with ``parts``, every part of a
      part model), ``"fill"`` (the gap ``[start_tick, end_tick)`` of ``track``, every
      part's with a part model), ``"harmonise"`` (the voices beneath ``track``'s
      melody, which it needs) or ``"regenerate"`` (``track``'s notes in
      ``[start_tick, end_tick)``, both or neither given: neither, the whole track, written
      anew by a part model while every other part stays as it is) or ``"drums"``
      (Add Drums: a new drum track for the whole song, in ``drum_style``: "auto" reads
      the song's metre and feel, or a style's name; no track, start or end);
    * ``settings``: what the user chose, validated here too (a style is in
      ``settings.style``).
    """

    job: str = CONTINUE
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    track: int | None = None
    start_tick: int | None = None
    end_tick: int | None = None
    parts: bool = False
    drum_style: str = "auto"  # the drums job's style (engine/generation/jobs/drums.py)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.job not in JOBS:
            raise GenerationError(f"the job must be one of {', '.join(JOBS)}, not {self.job!r}")
        if not isinstance(self.settings, GenerationSettings):
            raise GenerationError(f"a request's settings are GenerationSettings, not "
                                  f"{type(self.settings).__name__}")
        self.settings.validate()
        if self.track is not None:
            _whole(self.track, "the track")
        if not isinstance(self.parts, bool):
            raise GenerationError(f"parts is on or off, not {self.parts!r}")
        if not isinstance(self.drum_style, str) or not self.drum_style.strip():
            raise GenerationError(f"a drum style is auto or a style's name, not "
                                  f"{self.drum_style!r}")
        if self.job == DRUMS and (self.track is not None or self.start_tick is not None
                                  or self.end_tick is not None):
            raise GenerationError("Add Drums writes a drum track for the whole song; it "
                                  "takes no track, start or end")
        if self.job == HARMONISE and self.track is None:
            raise GenerationError("choose the track whose melody is to be harmonised")
        if self.job == REGENERATE:
            if self.track is None:
                raise GenerationError("choose the track whose part is to be regenerated")
            if (self.start_tick is None) != (self.end_tick is None):
                raise GenerationError("a part is regenerated over a range with a start and "
                                      "an end, or over all of it with neither")
            if self.start_tick is not None and (
                    isinstance(self.start_tick, bool) or isinstance(self.end_tick, bool)
                    or not isinstance(self.start_tick, (int, np.integer))
                    or not isinstance(self.end_tick, (int, np.integer))):
                raise GenerationError("the range's start and end must be whole ticks")
        elif self.job == FILL:
            if self.end_tick is None:
                raise GenerationError("a fill needs the gap's end")
            if self.start_tick is None or isinstance(self.start_tick, bool) \
                    or isinstance(self.end_tick, bool) \
                    or not isinstance(self.start_tick, (int, np.integer)) \
                    or not isinstance(self.end_tick, (int, np.integer)):
                raise GenerationError("the gap's start and end must be whole ticks")
        elif self.end_tick is not None:
            raise GenerationError(f"only a fill has a gap's end, not a {self.job}")
        elif self.start_tick is not None:
            _whole(self.start_tick, "the start tick")

    def check_song(self, song: Song | None) -> None:
        """What can only be checked against the song: a fill needs one, and a gap that
        makes no gap in it is refused with the bar it starts in."""
        if self.job == FILL:
            if song is None:
                raise GenerationError("there is no song to fill a gap in")
            checked_gap(song, self.start_tick, self.end_tick)
        if self.job == REGENERATE:
            if song is None or not song.tracks:
                raise GenerationError("there is no song with a part to regenerate")
            if not 0 <= int(self.track) < len(song.tracks):
                raise GenerationError(f"the song has no track {int(self.track) + 1}; its "
                                      f"tracks are numbered 1 to {len(song.tracks)}")
            if self.start_tick is not None and int(self.end_tick) <= int(self.start_tick):
                raise GenerationError(f"the range is empty: it ends (tick {self.end_tick}) "
                                      f"where or before it starts (tick {self.start_tick}, "
                                      f"bar {bar_of(song, int(self.start_tick))}); choose at "
                                      f"least one step of the part to regenerate")
            if self.start_tick is not None and int(self.start_tick) < 0:
                raise GenerationError(f"the range cannot start before the song (tick "
                                      f"{self.start_tick})")
        tracks = len(song.tracks) if song is not None else 0
        for track, name, _ in self.settings.part_controls:
            if track >= tracks:
                raise GenerationError(f"the {name} control is set for track {track + 1}, "
                                      f"but the song has "
                                      f"{f'tracks 1 to {tracks}' if tracks else 'no tracks'}")

    @property
    def gap(self) -> tuple[int, int] | None:
        """A fill's ``(start_tick, end_tick)``, or a regenerated part's range when it
        has one; None for any other job."""
        if self.job == FILL or (self.job == REGENERATE and self.end_tick is not None):
            return int(self.start_tick), int(self.end_tick)
        return None
