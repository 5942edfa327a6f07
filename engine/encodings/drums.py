"""The drum encoding: what a drum kit plays, one token a step on a grid of twelve steps a
quarter note.

``drums-12th`` v1 (argued in docs/drum-encoding.md).  General MIDI percussion (channel
10) is read as a small kit (:data:`KIT`, :func:`kit_piece`), each hit at one of three
velocity levels (:data:`LEVELS`).  A step of the grid (a 48th note: sixteenths and
eighth-note triplets both land on it exactly, so straight, swung and shuffled grooves
keep their feel) is ONE token: the set of hits struck at that step, ``REST`` (0) when
none.  The vocabulary is the list of hit sets (``combos``) the card names: the ones the
training corpus plays, so a model never spends probability on sets no drummer strikes.
A step whose set is not in the vocabulary is written as the nearest set that is (a
hit's level moved first, the least needed hits left out last), and the report counts it.

One token a step means token ``t`` of a sequence IS grid step ``origin + t``: a drum
model runs in lockstep with any other part, ``steps_for`` is its token count, and its
conditioning inputs (:data:`STYLE_INPUT`, :data:`POSITION_INPUT`, :data:`ONSETS_INPUT`)
are the same for every row of a batch at a step.  The values come from the encoding's
:attr:`DrumEncoding.context` (:class:`DrumContext`), which the caller sets before it
primes the model: the style id, the song's bar lines and the other parts' onsets.

Notes outside the GM percussion map (:func:`kit_piece` answers None) are not heard by a
model; :func:`unmapped_notes` names them so that callers keep them in the track and
tell the user (the encoding's report says how many).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from engine.encodings.base import CONTINUE, Encoded, Encoding, EncodingReport, register
from engine.encodings.keys import C_MAJOR, Key
from engine.encodings.melody import GridNote
from engine.errors import EncodingError
from engine.models.conditioning import Conditioned, conditioning_input
from engine.song import Note, Song, TimeSignature, Track

ENCODING_NAME = "drums-12th"
ENCODING_VERSION = 1
DRUM_CHANNEL = 9  # MIDI channel 10
STEPS_PER_QUARTER = 12
REST = 0

# the kit: piece name, the GM note it is written as, the GM notes it stands for
_KIT_TABLE = (
    ("kick", 36, (35, 36)),
    ("snare", 38, (38, 40)),
    ("side_stick", 37, (37,)),
    ("clap", 39, (39,)),
    ("closed_hat", 42, (42,)),
    ("pedal_hat", 44, (44,)),
    ("open_hat", 46, (46,)),
    ("low_tom", 45, (41, 43, 45)),
    ("mid_tom", 47, (47, 48)),
    ("high_tom", 50, (50,)),
    ("crash", 49, (49, 52, 55, 57)),
    ("ride", 51, (51, 53, 59)),
    ("tambourine", 54, (54,)),
    ("shaker", 70, (69, 70, 73, 74, 82)),
    ("cowbell", 56, (56,)),
    ("hand_drum", 63, (60, 61, 62, 63, 64, 65, 66)),
    ("wood", 75, (67, 68, 75, 76, 77)),
)
KIT: tuple[str, ...] = tuple(name for name, _, _ in _KIT_TABLE)
_PIECE_NOTE = tuple(note for _, note, _ in _KIT_TABLE)
_GM_TO_PIECE = {gm: i for i, (_, _, gms) in enumerate(_KIT_TABLE) for gm in gms}
# when a step's set of hits is not in the vocabulary, the pieces a groove misses most
# are kept first (lower: kept longer)
_KEEP_ORDER = {name: i for i, name in enumerate(
    ("kick", "snare", "closed_hat", "ride", "crash", "open_hat", "pedal_hat", "side_stick",
     "clap", "low_tom", "mid_tom", "high_tom", "hand_drum", "tambourine", "shaker",
     "cowbell", "wood"))}

# velocity levels: name, the velocity written, the lowest velocity read as it
LEVELS: tuple[str, ...] = ("soft", "medium", "accent")
LEVEL_VELOCITY = (50, 85, 112)
_LEVEL_FROM = (0, 64, 100)

# style families (mma's groove files named by family; "other": none of these, or unknown)
STYLES: tuple[str, ...] = (
    "other", "rock", "pop", "swing", "jazz", "blues", "bossa", "latin", "waltz", "country",
    "funk", "ballad", "march", "shuffle", "reggae", "disco", "folk", "polka", "rhumba",
    "samba", "tango", "soul", "hiphop", "gospel", "ska", "calypso", "metal", "dance")
AUTO_STYLE = "other"

STYLE_INPUT = conditioning_input(
    "style", (1,), "int32",
    f"the groove's style family: the index of its name in STYLES "
    f"({', '.join(STYLES)}); 0 when unknown")
POSITION_STEPS = 12  # one-hot step within the quarter note
POSITION_QUARTERS = 8  # one-hot quarter note within the bar (the last for 8 and beyond)
POSITION_INPUT = conditioning_input(
    "position", (POSITION_STEPS + POSITION_QUARTERS,), "float32",
    "where the step about to be written lies in its bar: one-hot of its step within the "
    "quarter note (12) then one-hot of its quarter within the bar (8, the last for the "
    "eighth quarter and after)")
ONSETS_INPUT = conditioning_input(
    "onsets", (2,), "float32",
    "the other parts' note starts at the step about to be written: [the bass (the lowest "
    "pitched track) starts a note, another pitched track starts a note], 1 or 0")
CONDITIONING = (STYLE_INPUT, POSITION_INPUT, ONSETS_INPUT)


def kit_piece(gm_note: int) -> int | None:
    """The kit piece (an index into :data:`KIT`) a General MIDI percussion note is
    played as; None when the GM percussion map has no place for it in the kit."""
    return _GM_TO_PIECE.get(int(gm_note))


def piece_note(index: int) -> int:
    """The GM percussion note a kit piece is written as."""
    if not 0 <= index < len(KIT):
        raise EncodingError(f"kit piece {index} is not one of the kit's {len(KIT)}")
    return _PIECE_NOTE[index]


def level_of(velocity: int) -> int:
    """The velocity level (an index into :data:`LEVELS`) a hit's velocity is read as."""
    return 2 if velocity >= _LEVEL_FROM[2] else 1 if velocity >= _LEVEL_FROM[1] else 0


def style_id(name: str) -> int:
    """The id of a style family (its index in :data:`STYLES`); EncodingError naming the
    styles there are when ``name`` is none of them."""
    key = str(name).strip().lower()
    if key in STYLES:
        return STYLES.index(key)
    raise EncodingError(f"there is no drum style named {str(name)[:40]!r}; the styles are "
                        f"{', '.join(STYLES)}")


def is_drum_track(track: Track) -> bool:
    """A drum track: marked as one, or on MIDI channel 10."""
    return bool(track.is_drum or track.channel == DRUM_CHANNEL)


def unmapped_notes(notes: Iterable[Note]) -> list[Note]:
    """The notes a drum model cannot hear: their GM note is not in the kit's map."""
    return [n for n in notes if kit_piece(n.pitch) is None]


Hit = tuple[int, int]  # (kit piece, level)
Combo = tuple[Hit, ...]  # sorted by piece; one hit per piece


def _default_combos() -> list[Combo]:
    """A vocabulary for when no corpus says otherwise: every single hit, every two
    pieces at once and the kick, snare or a cymbal with a hi-hat or a third piece at a
    medium or accented level."""
    pieces, out = range(len(KIT)), [()]
    out += [((p, v),) for p in pieces for v in range(len(LEVELS))]
    out += [((a, va), (b, vb)) for a, b in itertools.combinations(pieces, 2)
            for va in range(len(LEVELS)) for vb in range(len(LEVELS))]
    core = [KIT.index(n) for n in ("kick", "snare", "closed_hat", "open_hat", "pedal_hat",
                                   "crash", "ride", "side_stick", "clap")]
    out += [tuple(zip(trio, levels)) for trio in itertools.combinations(core, 3)
            for levels in itertools.product((1, 2), repeat=3)]
    return out


@dataclass(slots=True)
class DrumContext:
    """What a drum model's conditioning inputs read: the caller sets it on the
    encoding (:attr:`DrumEncoding.context`) before priming.

    ``origin``: the grid step of the first token the model reads (the seed's first);
    ``style``: a style id; ``bars``: the grid step where each bar starts, sorted
    (beyond the last, bars of the last bar's length go on; none: 4/4 from step 0);
    ``onsets``: [steps, 2] the other parts' onsets from grid step 0 (see
    :func:`onsets_per_step`); steps beyond it have none."""

    origin: int = 0
    style: int = 0
    bars: Sequence[int] = ()
    bar_steps: int = 4 * STEPS_PER_QUARTER  # the last bar's length, repeated beyond it
    onsets: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))


def _hits(count: int) -> str:
    return f"{count} drum hit{'' if count == 1 else 's'}"


@register
class DrumEncoding(Encoding, Conditioned):
    """One token a step: the set of kit hits at that step (:data:`REST` for none)."""

    name = ENCODING_NAME
    version = ENCODING_VERSION
    capabilities = frozenset({CONTINUE})
    steps_per_quarter = STEPS_PER_QUARTER
    min_pitch = 0
    max_pitch = 127
    grid_name = "grid of twelve steps a quarter note"

    def __init__(self, combos: Sequence[Sequence[Sequence[int]]] | None = None,
                 note_steps: int = 3) -> None:
        raw = _default_combos() if combos is None else combos
        table: list[Combo] = []
        for c in raw:
            combo = tuple(sorted((int(p), int(v)) for p, v in c))
            if any(not 0 <= p < len(KIT) or not 0 <= v < len(LEVELS) for p, v in combo) \
                    or len({p for p, _ in combo}) != len(combo):
                raise EncodingError(f"the drum vocabulary has a hit set it cannot play: {c}")
            table.append(combo)
        if not table or table[0] != ():
            raise EncodingError("the drum vocabulary must start with the empty step (REST)")
        if len(set(table)) != len(table):
            raise EncodingError("the drum vocabulary names a hit set twice")
        if not 1 <= note_steps <= 48:
            raise EncodingError(f"a drum hit lasts 1 to 48 steps, not {note_steps}")
        self.combos: tuple[Combo, ...] = tuple(table)
        self.note_steps = note_steps
        self._index = {c: i for i, c in enumerate(self.combos)}
        self._by_pieces: dict[tuple[int, ...], list[int]] = {}
        for i, c in enumerate(self.combos):
            self._by_pieces.setdefault(tuple(p for p, _ in c), []).append(i)
        self.hits_per_token = np.array([len(c) for c in self.combos], dtype=np.int64)
        self._onsets = self.hits_per_token > 0
        # [vocab, pieces]: the level + 1 each token strikes a piece at (0: not struck)
        self.piece_levels = np.zeros((len(self.combos), len(KIT)), dtype=np.int8)
        for i, c in enumerate(self.combos):
            for p, v in c:
                self.piece_levels[i, p] = v + 1
        self.context = DrumContext()

    # ---- vocabulary ----------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.combos)

    def token_names(self) -> list[str]:
        return ["REST"] + ["+".join(f"{KIT[p]}:{LEVELS[v]}" for p, v in c)
                           for c in self.combos[1:]]

    def token(self, hits: Iterable[tuple[int | str, int | str]]) -> int:
        """The token of a set of hits ((piece, level), by index or name); EncodingError
        when the vocabulary has no such set."""
        combo = tuple(sorted((KIT.index(p) if isinstance(p, str) else int(p),
                              LEVELS.index(v) if isinstance(v, str) else int(v))
                             for p, v in hits))
        if combo not in self._index:
            raise EncodingError(f"the drum vocabulary has no token for {combo}")
        return self._index[combo]

    def hits(self, token: int) -> Combo:
        """The (piece, level) hits a token strikes."""
        return self.combos[int(token)]

    @property
    def onset_mask(self) -> np.ndarray:
        """The tokens that strike anything (not REST)."""
        return self._onsets

    def count_onsets(self, tokens: np.ndarray) -> int:
        """Drum hits, not steps: bits per note of a drum model are bits per drum hit."""
        return int(self.hits_per_token[np.asarray(tokens, dtype=np.int64)].sum())

    def count_steps(self, tokens: np.ndarray) -> int:
        return int(np.asarray(tokens).size)

    # ---- the card -------------------------------------------------------------------
    def card(self) -> dict:
        return {"name": self.name, "version": self.version,
                "steps_per_quarter": self.steps_per_quarter, "vocab_size": self.vocab_size,
                "kit": [{"piece": n, "note": piece_note(i)} for i, n in enumerate(KIT)],
                "levels": [{"level": n, "velocity": v, "from": f}
                           for n, v, f in zip(LEVELS, LEVEL_VELOCITY, _LEVEL_FROM)],
                "note_steps": self.note_steps, "styles": list(STYLES),
                "combos": [[list(h) for h in c] for c in self.combos],
                "tokens": self.token_names(), "drums": True}

    @classmethod
    def from_card(cls, card: dict) -> "DrumEncoding":
        def build(c: dict) -> "DrumEncoding":
            if [k.get("piece") for k in c.get("kit", [])] != list(KIT):
                raise ValueError("its kit is not this Continuo's")
            if int(c["steps_per_quarter"]) != STEPS_PER_QUARTER:
                raise ValueError("its grid is not twelve steps a quarter")
            if list(c.get("styles", STYLES)) != list(STYLES):
                raise ValueError("its style families are not this Continuo's")
            return cls(c["combos"], int(c.get("note_steps", 3)))
        return cls.checked_from_card(card, build)  # type: ignore[return-value]

    # ---- notes -> steps -------------------------------------------------------------
    def step_hits(self, notes: Sequence[Note], ppq: int, start_step: int, end_step: int,
                  report: EncodingReport) -> list[dict[int, int]]:
        """Per step of [start_step, end_step): piece -> level (the loudest hit of a
        piece at a step wins).  Notes outside the kit are counted in the report."""
        steps: list[dict[int, int]] = [dict() for _ in range(max(0, end_step - start_step))]
        max_err = 0.0
        for n in notes:
            piece = kit_piece(n.pitch)
            if piece is None:
                continue
            s = self.tick_to_step(n.start_tick, ppq)
            if not start_step <= s < end_step:
                continue
            max_err = max(max_err, abs(s * ppq / STEPS_PER_QUARTER - n.start_tick))
            row = steps[s - start_step]
            row[piece] = max(row.get(piece, 0), level_of(n.velocity))
        report.max_quantize_error_ticks = round(max_err, 6)
        report.grid_name = self.grid_name
        return steps

    def nearest(self, row: Mapping[int, int]) -> tuple[int, int, int]:
        """The token nearest a step's hits (piece -> level): the same pieces at the
        most same levels, else the largest set of them kept (in :data:`_KEEP_ORDER`).
        Returns (token, hits left out, hits at another level)."""
        combo = tuple(sorted(row.items()))
        if combo in self._index:
            return self._index[combo], 0, 0
        pieces = sorted(row, key=lambda p: _KEEP_ORDER[KIT[p]])
        for size in range(len(pieces), 0, -1):
            best = None
            for kept in itertools.combinations(pieces, size):
                for i in self._by_pieces.get(tuple(sorted(kept)), ()):
                    same = sum(row[p] == v for p, v in self.combos[i])
                    rank = (same, -sum(_KEEP_ORDER[KIT[p]] for p in kept))
                    if best is None or rank > best[0]:
                        best = (rank, i)
            if best is not None:
                return best[1], len(pieces) - size, size - best[0][0]
        return REST, len(pieces), 0

    def encode_steps(self, notes: Sequence[Note], ppq: int, start_step: int,
                     end_step: int) -> Encoded:
        """Drum notes -> one token a step for [start_step, end_step), with the report:
        notes outside the kit's map, hits left out or moved to another level because
        the vocabulary has no token for their step's set."""
        if end_step < start_step:
            raise EncodingError("the drum track ends before it starts")
        notes = list(notes)
        report = EncodingReport(notes_in=len(notes), grid_name=self.grid_name)
        rows = self.step_hits(notes, ppq, start_step, end_step, report)
        tokens, left_out, relevelled = [], 0, 0
        for row in rows:
            tok, out, moved = self.nearest(row) if row else (REST, 0, 0)
            tokens.append(tok)
            left_out += out
            relevelled += moved
        unmapped = unmapped_notes(notes)
        if unmapped:
            pitches = sorted({n.pitch for n in unmapped})
            report.other.append(
                f"{len(unmapped)} drum notes are not in the General MIDI percussion map the "
                f"drum model knows (notes {', '.join(map(str, pitches[:8]))}"
                f"{' ...' if len(pitches) > 8 else ''}); they stay in the track, but the "
                f"model does not hear them.")
        hits = sum(len(row) for row in rows)
        if left_out:
            report.other.append(f"{_hits(left_out)} of {hits} struck together with others "
                                f"{'was' if left_out == 1 else 'were'} left out of what the "
                                f"model hears: it has no token for so many pieces at once "
                                f"(the track itself is unchanged).")
        if relevelled:
            report.other.append(f"{_hits(relevelled)} of {hits} "
                                f"{'was' if relevelled == 1 else 'were'} heard at another "
                                f"loudness level (the track itself is unchanged).")
        return Encoded(tokens=tokens, key=C_MAJOR, transpose=0, start_step=start_step,
                       velocity=LEVEL_VELOCITY[1], report=report)

    def encode_tracks(self, tracks: Iterable[Track], ppq: int, start_step: int | None = None,
                      end_step: int | None = None) -> Encoded:
        """The drum tracks among ``tracks`` (marked as drums or on channel 10) as one kit:
        by default from the start of the bar of 4/4 holding their first hit... to the
        step after their last (``start_step`` and ``end_step`` say otherwise)."""
        notes = [n for t in tracks if is_drum_track(t) for n in t.notes]
        steps = [self.tick_to_step(n.start_tick, ppq) for n in notes if kit_piece(n.pitch) is not None]
        if start_step is None:
            start_step = min(steps, default=0)
        if end_step is None:
            end_step = max(steps, default=start_step - 1) + 1
        return self.encode_steps(notes, ppq, start_step, max(start_step, end_step))

    # ---- the Encoding interface -----------------------------------------------------
    def song_to_tokens(self, song: Song) -> list[int] | None:
        """A song's drum tracks from the start of the bar of their first hit to the end
        of the bar of their last; None when it has no drum hit the kit knows.  The
        :attr:`context` becomes the song's (its bar lines, the other parts' onsets and
        the first token's step; the style stays), so that scoring the tokens feeds the
        model what training fed it."""
        notes = [n for t in song.tracks if is_drum_track(t) for n in t.notes
                 if kit_piece(n.pitch) is not None]
        if not notes:
            return None
        first = min(n.start_tick for n in notes)
        last = max(n.start_tick for n in notes)
        starts = song.bar_starts(last + 1)
        bar0 = max((b for b in starts if b <= first), default=0)
        end_bar = starts[-1] + song.ticks_per_bar_at(starts[-1]) if starts else last + 1
        start = self.tick_to_step(bar0, song.ppq)
        end = max(self.tick_to_step(end_bar, song.ppq), self.tick_to_step(last, song.ppq) + 1)
        bars, last_bar = bar_lines(song, end_bar)
        self.context = DrumContext(origin=start, style=self.context.style, bars=bars,
                                   bar_steps=last_bar,
                                   onsets=onsets_per_step(song.tracks, song.ppq, end + 1))
        return self.encode_steps(notes, song.ppq, start, end).tokens

    def encode_tune(self, notes: Sequence[Note], ppq: int) -> Encoded:
        steps = [self.tick_to_step(n.start_tick, ppq) for n in notes if kit_piece(n.pitch) is not None]
        start = min(steps, default=0)
        return self.encode_steps(notes, ppq, start, max(steps, default=start - 1) + 1)

    def encode_seed(self, notes: Sequence[Note], ppq: int, key: Key, start_step: int,
                    end_step: int) -> Encoded:
        """A drum seed's hits as tokens for the steps [start_step, end_step); ``key``
        does not matter to drums."""
        return self.encode_steps(notes, ppq, start_step, end_step)

    def trim_prime(self, tokens: Sequence[int]) -> list[int]:
        """A drum seed is heard whole (its rests place the groove in the bar)."""
        return list(tokens)

    # ---- tokens -> notes ------------------------------------------------------------
    def tokens_to_grid(self, tokens: Sequence[int], start_step: int = 0) -> list[GridNote]:
        """Tokens -> grid hits (start, start + ``note_steps``, GM note, velocity)."""
        out = []
        vocab = self.vocab_size
        for i, tok in enumerate(tokens):
            tok = int(tok)
            if not 0 <= tok < vocab:
                raise EncodingError(f"token {tok} is outside the drum vocabulary of {vocab}")
            s = start_step + i
            for p, v in self.combos[tok]:
                out.append(GridNote(s, s + self.note_steps, piece_note(p), LEVEL_VELOCITY[v]))
        return out

    def decode(self, tokens: Sequence[int], ppq: int, transpose: int = 0, start_step: int = 0,
               velocity: Any = None, channel: int = DRUM_CHANNEL) -> list[Note]:
        """Tokens -> drum notes on ``channel`` (10 unless told), each hit at its level's
        velocity; ``transpose`` and ``velocity`` do not apply to drums."""
        notes = []
        for g in self.tokens_to_grid(tokens, start_step):
            start = self.step_to_tick(g.start_step, ppq)
            end = self.step_to_tick(g.end_step, ppq)
            notes.append(Note(g.pitch, start, max(1, end - start), g.velocity, channel))
        return notes

    # ---- masks for the sampler ------------------------------------------------------
    def allowed_tokens(self, pitch_classes: Iterable[int] | None = None,
                       min_pitch: int | None = None, max_pitch: int | None = None) -> np.ndarray:
        """Every token: keys and pitch ranges do not apply to drums."""
        return np.ones(self.vocab_size, dtype=bool)

    def first_step_allowed(self, prime: Sequence[int], allowed: np.ndarray) -> np.ndarray:
        return allowed

    def start_token(self, pitch_class: int, allowed: np.ndarray) -> int:
        """A groove from nothing starts with an accented kick where allowed, else a rest."""
        for combo in (((0, 2),), ((0, 1),)):
            i = self._index.get(combo)
            if i is not None and allowed[i]:
                return i
        return REST

    # ---- the grid -------------------------------------------------------------------
    def steps_for(self, bars: int, ticks_per_bar: int | TimeSignature,  # type: ignore[override]
                  ppq: int | None = None) -> int:
        """Steps (= tokens) in ``bars`` bars: of ``ticks_per_bar`` ticks at ``ppq``, or of
        a metre (a TimeSignature)."""
        if isinstance(ticks_per_bar, TimeSignature):
            return max(1, bars * bar_steps(ticks_per_bar))
        return super().steps_for(bars, ticks_per_bar, int(ppq or 480))

    # ---- conditioning ---------------------------------------------------------------
    def conditioning(self, step: int) -> dict[str, Any]:
        """The inputs fed with token ``step`` (counted from :attr:`context`'s origin):
        they describe the step the model writes next, ``origin + step + 1``."""
        c = self.context
        at = c.origin + step + 1
        onsets = c.onsets[at] if 0 <= at < len(c.onsets) else np.zeros(2, np.float32)
        return {"style": c.style, "position": position_at(at, c.bars, c.bar_steps),
                "onsets": onsets}

    def conditioning_span(self, start: int, length: int) -> dict[str, Any]:
        """:meth:`conditioning` of the tokens ``start`` .. ``start + length - 1`` at once,
        each broadcastable to ``[batch, length, *shape]`` (the sequence graph's)."""
        c = self.context
        ats = np.arange(c.origin + start + 1, c.origin + start + 1 + length)
        onsets = np.zeros((length, 2), np.float32)
        inside = (ats >= 0) & (ats < len(c.onsets))
        onsets[inside] = c.onsets[ats[inside]]
        style = np.asarray(c.style)
        return {"style": style[:, None] if style.ndim == 2 else style,
                "position": positions_at(int(ats[0]) if length else 0, length, c.bars,
                                         c.bar_steps)[None],
                "onsets": onsets[None]}

    def conditioning_rows(self, steps: int, start: int | None = None) -> dict[str, np.ndarray]:
        """Every input for tokens ``start`` .. ``start + steps - 1`` at once (training's
        and scoring's [steps, *shape] arrays); ``start`` defaults to 0."""
        rows = [self.conditioning((start or 0) + t) for t in range(steps)]
        return {"style": np.full((steps, 1), self.context.style, np.int32),
                "position": np.stack([r["position"] for r in rows]).astype(np.float32)
                if rows else np.zeros((0, POSITION_INPUT.shape[0]), np.float32),
                "onsets": np.stack([np.asarray(r["onsets"], np.float32) for r in rows])
                if rows else np.zeros((0, 2), np.float32)}


def bar_steps(meter: TimeSignature) -> int:
    """Grid steps in a bar of ``meter`` (48 in 4/4, 36 in 3/4 and 6/8, 42 in 7/8)."""
    return meter.numerator * 4 * STEPS_PER_QUARTER // meter.denominator


def bar_lines(song: Song, until_tick: int) -> tuple[list[int], int]:
    """The grid steps where the song's bars start up to ``until_tick`` and the last
    bar's length in steps: a :class:`DrumContext`'s ``bars`` and ``bar_steps``."""
    ticks = song.bar_starts(until_tick) or [0]
    steps = [round(t * STEPS_PER_QUARTER / song.ppq) for t in ticks]
    last = bar_steps(song.meter_at(ticks[-1]))
    return steps, last


def position_at(step: int, bars: Sequence[int] = (), last_bar_steps: int = 48) -> np.ndarray:
    """The ``position`` input of a grid step: one-hot of its step within the quarter and
    of its quarter within its bar (bars start at ``bars``; 4/4 from 0 when empty)."""
    out = np.zeros(POSITION_INPUT.shape[0], np.float32)
    if bars:
        i = int(np.searchsorted(np.asarray(bars), step, side="right")) - 1
        if i < 0:
            since = step - bars[0]
        elif i == len(bars) - 1:
            since = step - bars[-1]
            since %= max(1, last_bar_steps)
        else:
            since = step - bars[i]
    else:
        since = step % max(1, last_bar_steps)
    since %= 10 ** 9
    out[since % STEPS_PER_QUARTER] = 1.0
    out[POSITION_STEPS + min(POSITION_QUARTERS - 1, since // STEPS_PER_QUARTER)] = 1.0
    return out


def positions_at(first: int, count: int, bars: Sequence[int], bar_steps: int) -> np.ndarray:
    """[count, 20]: :func:`position_at` of the grid steps
    ``first`` .. ``first + count - 1`` at once (steps before the first bar line one by
    one, as it does)."""
    ats = np.arange(first, first + count)
    out = np.zeros((count, POSITION_STEPS + POSITION_QUARTERS), np.float32)
    if bars:
        starts = np.asarray(bars, dtype=np.int64)
        i = np.searchsorted(starts, ats, side="right") - 1
        since = ats - starts[np.maximum(i, 0)]
        last = i == len(starts) - 1
        since[last] %= max(1, bar_steps)
    else:
        since = ats % max(1, bar_steps)
    rows = np.arange(count)
    out[rows, since % STEPS_PER_QUARTER] = 1.0
    out[rows, POSITION_STEPS + np.minimum(POSITION_QUARTERS - 1,
                                          since // STEPS_PER_QUARTER)] = 1.0
    if bars:
        for r in np.nonzero(ats < bars[0])[0]:
            out[r] = position_at(int(ats[r]), bars, bar_steps)
    return out


def onsets_per_step(tracks: Sequence[Track], ppq: int, steps: int,
                    meter: TimeSignature | None = None, start_step: int = 0) -> np.ndarray:
    """The other parts' onsets, the drum model's ``onsets`` input: float32 [steps, 2]
    for grid steps ``start_step`` .. ``start_step + steps - 1``; column 0 is 1 where the
    bass (the pitched track lowest on average) starts a note, column 1 where any other
    pitched track does.  Drum tracks are not heard; ``meter`` does not change the grid
    (twelve steps a quarter in any metre) and is accepted for the callers' symmetry."""
    out = np.zeros((max(0, steps), 2), np.float32)
    pitched = [t for t in tracks if t.notes and not is_drum_track(t)]
    if not pitched:
        return out
    bass = min(range(len(pitched)),
               key=lambda i: sum(n.pitch for n in pitched[i].notes) / len(pitched[i].notes))
    for i, t in enumerate(pitched):
        column = 0 if i == bass and len(pitched) > 1 or (len(pitched) == 1 and _low(t)) else 1
        for n in t.notes:
            s = int(math.floor(n.start_tick * STEPS_PER_QUARTER / ppq + 0.5)) - start_step
            if 0 <= s < steps:
                out[s, column] = 1.0
    return out


def _low(track: Track) -> bool:
    """A lone pitched track is a bass when it lies mostly below middle C's octave."""
    return sum(n.pitch for n in track.notes) / len(track.notes) < 52
