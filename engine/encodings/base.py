"""The one interface between music and tokens, and the registry of encodings.

An encoding owns everything token-specific: its vocabulary and token names, how a song
(or a seed's notes) becomes tokens and what it had to drop or move on the way, how
tokens become notes with velocities, the masks the sampler needs (key, pitch range,
what may not come at the first step, what a continuation from nothing starts with),
how many steps N bars of a metre are, and its section of a model card.  The generator,
the models, the CLI and training reach tokens only through it, so a new kind of music
(polyphony, fill-in-the-middle) is a new module that registers itself here:

    @register
    class MyEncoding(GridEncoding):
        name, version = "my-encoding", 1
        ...

Every encoding here works on a grid of ``steps_per_quarter`` steps per quarter note and
moves music into C major / A minor before a model hears it (``transpose`` semitones
added), which decoding undoes.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterable, Sequence

import numpy as np

from engine.encodings.keys import Key, estimate_song_key
from engine.errors import EncodingError
from engine.song import Note, Song


# What a model can be asked to do, as capabilities_of answers it.  Every model continues;
# "fill" regenerates a gap (a melody model trained to fill, or any part model); "parts"
# writes several parts at once (polyphony) and "harmonise" writes parts under a melody.
CONTINUE, FILL, HARMONISE, PARTS = "continue", "fill", "harmonise", "parts"
CAPABILITIES = (CONTINUE, FILL, HARMONISE, PARTS)
PART_CAPABILITIES = frozenset(CAPABILITIES)


@dataclass(slots=True)
class EncodingReport:
    """What encoding had to change, so the caller can tell the user.  Each encoding
    fills what applies to it; :meth:`messages` turns it into sentences."""

    notes_in: int = 0
    dropped_below_top_line: int = 0
    max_quantize_error_ticks: float = 0.0
    octave_shift: int = 0  # whole-music shift in octaves to fit the range
    notes_moved_by_octave: int = 0  # single notes folded into the range
    lengthened_to_one_step: int = 0
    merged_unisons: int = 0  # two parts on one pitch at once, heard as one note
    dropped_over_voices: int = 0  # notes beyond what a polyphonic encoding holds at once
    grid_name: str = "sixteenth-note grid"
    other: list[str] = field(default_factory=list)  # encoding-specific sentences

    def messages(self, *, quantization: bool = True) -> list[str]:
        """Sentences for the user; ``quantization=False`` leaves out the grid's (a
        continuation is always on the grid, so a seed's caller does not repeat it)."""
        out = []
        if self.dropped_below_top_line:
            out.append(f"The seed has several voices; its top line was used and "
                       f"{self.dropped_below_top_line} lower notes were left out.")
        if self.notes_moved_by_octave:
            out.append(f"{self.notes_moved_by_octave} notes were outside the model's range "
                       f"and were moved by octaves.")
        if quantization and self.max_quantize_error_ticks > 0:
            out.append(f"Notes were moved up to {self.max_quantize_error_ticks:g} ticks "
                       f"to fit the {self.grid_name}.")
        return out + list(self.other)


@dataclass(slots=True)
class Encoded:
    """Tokens of some music, with what decoding needs to put new tokens back."""

    tokens: list[int]
    key: Key  # the key of the original music
    transpose: int  # semitones added before encoding (key shift + octave shift)
    start_step: int  # grid step (from tick 0) of the first token
    velocity: int  # typical velocity, for decoding generated notes
    report: EncodingReport = field(default_factory=EncodingReport)


class Encoding(ABC):
    """Music <-> tokens on a step grid, for one kind of model input.

    Subclasses set ``name`` and ``version`` and implement the abstract methods;
    :func:`register` makes a card's ``encoding`` section find them."""

    name: ClassVar[str]
    version: ClassVar[int]
    # what a model of this encoding can be asked to do (CAPABILITIES; read it through
    # capabilities_of, which also hears the card's jobs)
    capabilities: ClassVar[frozenset[str]] = frozenset({CONTINUE})
    steps_per_quarter: int
    min_pitch: int
    max_pitch: int

    # ---- vocabulary ----------------------------------------------------------------
    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def token_names(self) -> list[str]: ...

    @property
    @abstractmethod
    def onset_mask(self) -> np.ndarray:
        """Boolean [vocab]: the tokens that start a note.  Bits per note divide by how
        many of these a tune has (docs/model-contract.md)."""

    # ---- the card -------------------------------------------------------------------
    @abstractmethod
    def card(self) -> dict:
        """The encoding's section of a model card (``name`` and ``version`` first)."""

    @classmethod
    @abstractmethod
    def from_card(cls, section: dict) -> "Encoding":
        """The encoding a card's section describes; EncodingError when it cannot be."""

    @classmethod
    def checked_from_card(cls, section: dict, build: Callable[[dict], "Encoding"]
                          ) -> "Encoding":
        """``build(section)``, checked as every encoding's card is: the section is
        complete, names this encoding and version, and its vocabulary size is the one
        the built encoding has."""
        try:
            name, version = str(section["name"]), int(section["version"])
            enc = build(section)
        except (KeyError, TypeError, ValueError) as e:
            raise EncodingError(f"the encoding in the model card is incomplete ({e})") from None
        if name != cls.name or version != cls.version:
            raise EncodingError(f"the model uses encoding {name} v{version}; this "
                                f"Continuo speaks {cls.name} v{cls.version}")
        if int(section.get("vocab_size", enc.vocab_size)) != enc.vocab_size:
            raise EncodingError("the model card's vocabulary size does not match its pitch range")
        return enc

    # ---- music -> tokens ------------------------------------------------------------
    @abstractmethod
    def song_to_tokens(self, song: Song) -> list[int] | None:
        """One training (and scoring) sequence for a whole song, None when the song
        has nothing this encoding can use."""

    def encode_tune(self, notes: Sequence[Note], ppq: int) -> Encoded:
        """A whole tune's notes -> one training sequence, with the report of what was
        dropped or moved (training's corpora reject tunes by it).  By default the notes'
        span in their own key through :meth:`encode_seed`; an encoding that ends tunes
        in its own way (the melody's closing NOTE_OFF) says so here."""
        notes = list(notes)
        start = min((self.tick_to_step(n.start_tick, ppq) for n in notes), default=0)
        end = max((self.tick_to_step(n.end_tick, ppq) for n in notes), default=start)
        return self.encode_seed(notes, ppq, estimate_song_key(notes), start, max(start, end))

    @abstractmethod
    def encode_seed(self, notes: Sequence[Note], ppq: int, key: Key, start_step: int,
                    end_step: int) -> Encoded:
        """A seed's notes -> tokens for the steps [start_step, end_step), moved into
        C major / A minor from ``key``; the report says what was dropped or moved."""

    def seed_messages(self, encoded: Encoded) -> list[str]:
        """What the user should be told about a seed the generator encoded: what the
        report counts, and a whole-seed octave shift into the model's range."""
        messages = encoded.report.messages(quantization=False)
        if encoded.report.octave_shift:
            octaves = abs(encoded.report.octave_shift)
            messages.append(f"The seed lies outside the model's range "
                            f"({self.min_pitch}-{self.max_pitch}); the model heard it moved by "
                            f"{octaves} octave{'s' if octaves > 1 else ''} and the "
                            f"continuation was moved back.")
        return messages

    @abstractmethod
    def trim_prime(self, tokens: Sequence[int]) -> list[int]:
        """The seed tokens a model is primed with: training sequences start the way
        this returns them (a melody's with its first note)."""

    # ---- tokens -> music ------------------------------------------------------------
    def decode(self, tokens: Sequence[int], ppq: int, transpose: int = 0, start_step: int = 0,
               velocity: int | Callable[[int], int] = 100, channel: int = 0) -> list[Note]:
        """Tokens -> notes at ``ppq`` with the transposition undone; ``velocity`` is
        one for every note or a function of a note's start tick.  By default the
        tokens' grid notes (:meth:`tokens_to_grid`) through :meth:`grid_to_notes`."""
        return self.grid_to_notes(self.tokens_to_grid(tokens, start_step), ppq, transpose,
                                  velocity, channel)

    def tokens_to_grid(self, tokens: Sequence[int], start_step: int = 0) -> list:
        """Tokens -> grid notes (``start_step``, ``end_step``, ``pitch``, ``velocity``),
        the first token at ``start_step``; an encoding that decodes through the default
        :meth:`decode` gives it."""
        raise NotImplementedError(f"{type(self).__name__} cannot read its tokens as grid notes")

    # ---- masks for the sampler ------------------------------------------------------
    @abstractmethod
    def allowed_tokens(self, pitch_classes: Iterable[int] | None = None,
                       min_pitch: int | None = None, max_pitch: int | None = None) -> np.ndarray:
        """Boolean [vocab]: every token that is not a note of another pitch class (all
        pitch classes when None) or outside [min_pitch, max_pitch] (model space)."""

    @abstractmethod
    def first_step_allowed(self, prime: Sequence[int], allowed: np.ndarray) -> np.ndarray:
        """``allowed`` narrowed for the first new step after ``prime`` (a copy when it
        changes): tokens that cannot follow what the seed left sounding."""

    @abstractmethod
    def start_token(self, pitch_class: int, allowed: np.ndarray) -> int:
        """The token a continuation from nothing starts with: a note of
        ``pitch_class`` (model space) among the ``allowed`` ones."""

    def grid_to_notes(self, grid: Iterable, ppq: int, transpose: int = 0,
                      velocity: int | Callable[[int], int] = 100,
                      channel: int = 0) -> list[Note]:
        """Grid notes (``start_step``, ``end_step``, ``pitch``, ``velocity``) -> notes at
        ``ppq`` with the transposition undone (pitches pushed outside 0-127 folded back
        by octaves); ``velocity`` for every note, or a function of a note's start tick."""
        notes = []
        at = velocity if callable(velocity) else None
        for g in grid:
            p = g.pitch - transpose
            while p < 0:
                p += 12
            while p > 127:
                p -= 12
            start = self.step_to_tick(g.start_step, ppq)
            end = self.step_to_tick(g.end_step, ppq)
            notes.append(Note(p, start, max(1, end - start),
                              at(start) if at else velocity, channel))
        return notes

    # ---- the grid -------------------------------------------------------------------
    def tick_to_step(self, tick: float, ppq: int) -> int:
        return int(math.floor(tick * self.steps_per_quarter / ppq + 0.5))

    def step_to_tick(self, step: int, ppq: int) -> int:
        return int(math.floor(step * ppq / self.steps_per_quarter + 0.5))

    def ceil_step(self, tick: int, ppq: int) -> int:
        """The first step at or after ``tick``."""
        return math.ceil(tick * self.steps_per_quarter / ppq)

    def steps_for(self, bars: int, ticks_per_bar: int, ppq: int) -> int:
        """Steps in ``bars`` bars of ``ticks_per_bar`` ticks (at least one)."""
        return max(1, round(bars * ticks_per_bar * self.steps_per_quarter / ppq))

    def count_onsets(self, tokens: np.ndarray) -> int:
        return int(np.count_nonzero(self.onset_mask[np.asarray(tokens)]))

    # ---- training -------------------------------------------------------------------
    def training_windows(self, tokens: np.ndarray, length: int) -> list[np.ndarray]:
        """A long training sequence as examples of at most ``length`` tokens.  By
        default the sequence itself (training keeps its first ``length``); an encoding
        whose pieces are many windows long (polyphony) cuts them where a seed could
        begin."""
        return [tokens]

    def transpose_tokens(self, tokens: np.ndarray, semitones: int) -> np.ndarray | None:
        """``tokens`` (same dtype) with every note moved by ``semitones``, or None when a
        note would leave the encoding's range: training's augmentation.  An encoding
        that cannot move its notes answers None for every shift but 0."""
        return np.array(tokens, copy=True) if semitones == 0 else None


EncodingFactory = Callable[[dict], Encoding]
ENCODINGS: dict[tuple[str, int], type[Encoding]] = {}


def register(cls: type[Encoding]) -> type[Encoding]:
    """Class decorator: cards naming ``(cls.name, cls.version)`` are read by ``cls``."""
    key = (cls.name, cls.version)
    if key in ENCODINGS and ENCODINGS[key] is not cls:
        raise ValueError(f"encoding {cls.name} v{cls.version} is registered twice")
    ENCODINGS[key] = cls
    return cls


def known_encodings() -> list[str]:
    return [f"{n} v{v}" for n, v in sorted(ENCODINGS)]


def encoding_from_card(section: dict) -> Encoding:
    """The registered encoding that a card's ``encoding`` section names."""
    if not isinstance(section, dict):
        raise EncodingError("the model card's encoding is not a table")
    name, version = section.get("name"), section.get("version")
    cls = ENCODINGS.get((name, version)) if isinstance(name, str) and isinstance(version, int) \
        and not isinstance(version, bool) else None
    if cls is None:
        raise EncodingError(f"the model uses encoding {name} v{version}; this Continuo speaks "
                            f"{', '.join(known_encodings()) or 'none'}")
    return cls.from_card(section)


def capabilities_of(thing) -> frozenset[str]:
    """What ``thing`` can be asked to do, out of :data:`CAPABILITIES`: the one answer to
    "is this model polyphonic, can it fill, can it harmonise".

    ``thing`` is an encoding (or its class), a model or model card (anything with an
    ``encoding`` and ``jobs``, or ``info.jobs``), or a card's JSON (a dict with an
    ``encoding`` section and optional ``jobs``).  A part model continues, fills and
    harmonises; a melody model fills only when its encoding can and its card lists the
    job (``jobs``: ["continue", "fill"]).  A card whose encoding this Continuo does not
    speak can do nothing (frozenset())."""
    if isinstance(thing, dict):
        section = thing.get("encoding")
        name = section.get("name") if isinstance(section, dict) else None
        version = section.get("version") if isinstance(section, dict) else None
        cls = ENCODINGS.get((name, version)) if isinstance(name, str) and isinstance(
            version, int) and not isinstance(version, bool) else None
        if cls is None:
            return frozenset()
        jobs = thing.get("jobs", [CONTINUE])
        return _with_jobs(frozenset(cls.capabilities), jobs if isinstance(jobs, list) else ())
    if isinstance(thing, Encoding) or isinstance(thing, type) and issubclass(thing, Encoding):
        return frozenset((thing if isinstance(thing, type) else type(thing)).capabilities)
    encoding = getattr(thing, "encoding", None)
    if not isinstance(encoding, Encoding):
        raise TypeError(f"capabilities_of takes an encoding, a model or a card, "
                        f"not {type(thing).__name__}")
    jobs = getattr(thing, "jobs", None)
    if jobs is None:
        jobs = getattr(getattr(thing, "info", None), "jobs", (CONTINUE,))
    return _with_jobs(frozenset(type(encoding).capabilities), jobs)


def _with_jobs(caps: frozenset[str], jobs) -> frozenset[str]:
    """An encoding's capabilities as a model card narrows them: a melody model fills
    only when the card lists "fill" (a part model always can)."""
    if PARTS in caps or FILL in jobs:
        return caps
    return caps - {FILL}
