"""The polyphonic encoding: every sounding note of every part, step by step.

``polyphony-16th`` v1 (argued in docs/polyphony-encoding.md).  On a sixteenth-note
grid, each step lists the notes sounding in it from the highest pitch down, each as

* ``NEW(p)`` (``1 + p - min_pitch``): a note of pitch ``p`` starts at this step,
* ``HOLD(p)`` (``1 + n + p - min_pitch``): the note of pitch ``p`` sounding at the
  previous step goes on through this one,

and closes the step with ``STEP`` (0).  An empty step (a rest in every part) is a lone
``STEP``.  This is the scheme of Magenta's PolyphonyRNN with the order fixed from the
top down, so the melody (the top line) always comes first in its step: harmonising a
melody is forcing that first event and sampling the rest below it.

The encoding is voice-blind: it keeps chords, ties, re-attacks and up to
``max_voices`` simultaneous notes, but not which part a note came from.  Generation
restores the parts as it writes: :class:`PartGrammar` gives every note to a part as it
is sampled and keeps each part a line (its own holds, range, order and rhythm);
:class:`PolyGrammar` is the voice-blind grammar training and the fallback use.

What encoding has to change is reported: notes folded into the range by octaves,
unisons of two parts merged into one note, and notes beyond ``max_voices`` at once
(the lowest inner notes go first: the bass and the top are kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from engine.encodings.base import (PART_CAPABILITIES, Encoded, Encoding, EncodingReport,
                                   register)
from engine.encodings.keys import Key, estimate_song_key
from engine.encodings.melody import GridNote, quantize_to_grid
from engine.errors import EncodingError
from engine.song import Note, Song

ENCODING_NAME = "polyphony-16th"
ENCODING_VERSION = 1
STEP = 0


def playable_tracks(song: Song) -> list[int]:
    """Indices of the tracks a polyphonic model hears: every track with notes that is
    not a drum track (MIDI channel 10)."""
    return [i for i, t in enumerate(song.tracks) if t.notes and not t.is_drum]


@register
class PolyphonyEncoding(Encoding):
    """Sounding notes per step, top down, closed by STEP."""

    name = ENCODING_NAME
    version = ENCODING_VERSION
    capabilities = PART_CAPABILITIES  # continues, fills and harmonises every part

    def __init__(self, min_pitch: int = 24, max_pitch: int = 102,
                 steps_per_quarter: int = 4, max_voices: int = 8) -> None:
        if not 0 <= min_pitch <= max_pitch <= 127:
            raise EncodingError(f"pitch range {min_pitch}-{max_pitch} is not inside 0-127")
        if max_pitch - min_pitch < 59:
            raise EncodingError("a polyphonic range must span at least five octaves")
        if not 6 <= max_voices <= 16:
            raise EncodingError(f"a polyphonic encoding holds 6 to 16 notes at once, "
                                f"not {max_voices}")
        self.min_pitch = min_pitch
        self.max_pitch = max_pitch
        self.steps_per_quarter = steps_per_quarter
        self.max_voices = max_voices
        n = self.pitches
        kinds = np.zeros(self.vocab_size, dtype=np.int8)  # 0 STEP, 1 NEW, 2 HOLD
        kinds[1:1 + n] = 1
        kinds[1 + n:] = 2
        self.kinds = kinds
        # model-space pitch of each token (-1 for STEP)
        self.token_pitches = np.full(self.vocab_size, -1, dtype=np.int64)
        self.token_pitches[1:1 + n] = np.arange(min_pitch, max_pitch + 1)
        self.token_pitches[1 + n:] = np.arange(min_pitch, max_pitch + 1)
        self._onsets = kinds == 1

    # ---- vocabulary ----------------------------------------------------------------
    @property
    def pitches(self) -> int:
        return self.max_pitch - self.min_pitch + 1

    @property
    def vocab_size(self) -> int:
        return 1 + 2 * self.pitches

    def new(self, pitch: int) -> int:
        self._check(pitch)
        return 1 + pitch - self.min_pitch

    def hold(self, pitch: int) -> int:
        self._check(pitch)
        return 1 + self.pitches + pitch - self.min_pitch

    def _check(self, pitch: int) -> None:
        if not self.min_pitch <= pitch <= self.max_pitch:
            raise EncodingError(f"pitch {pitch} is outside the encoding's range "
                                f"{self.min_pitch}-{self.max_pitch}")

    def token_names(self) -> list[str]:
        ps = range(self.min_pitch, self.max_pitch + 1)
        return ["STEP"] + [f"NEW({p})" for p in ps] + [f"HOLD({p})" for p in ps]

    @property
    def onset_mask(self) -> np.ndarray:
        return self._onsets

    def count_steps(self, tokens: np.ndarray) -> int:
        return int(np.count_nonzero(np.asarray(tokens) == STEP))

    # ---- the card -------------------------------------------------------------------
    def card(self) -> dict:
        return {"name": self.name, "version": self.version, "min_pitch": self.min_pitch,
                "max_pitch": self.max_pitch, "steps_per_quarter": self.steps_per_quarter,
                "max_voices": self.max_voices, "vocab_size": self.vocab_size,
                "tokens": self.token_names(), "transposed_to": "C major / A minor",
                "polyphonic": True}

    @classmethod
    def from_card(cls, card: dict) -> "PolyphonyEncoding":
        return cls.checked_from_card(card, lambda c: cls(  # type: ignore[return-value]
            int(c["min_pitch"]), int(c["max_pitch"]), int(c["steps_per_quarter"]),
            int(c.get("max_voices", 8))))

    # ---- notes -> grid --------------------------------------------------------------
    def to_grid(self, notes: Sequence[Note], ppq: int, shift: int,
                report: EncodingReport) -> list[GridNote]:
        """Quantize, transpose by ``shift`` and fit the range: the whole music by
        octaves where it fits (fewest octaves), else note by note."""
        grid, error, lengthened = quantize_to_grid(self, notes, ppq, shift)
        report.max_quantize_error_ticks = error
        report.lengthened_to_one_step += lengthened
        if not grid:
            return grid
        lo, hi = min(g.pitch for g in grid), max(g.pitch for g in grid)
        fits = [k for k in range(-10, 11)
                if lo + 12 * k >= self.min_pitch and hi + 12 * k <= self.max_pitch]
        if fits:
            k = min(fits, key=abs)
            report.octave_shift = k
            return [GridNote(g.start_step, g.end_step, g.pitch + 12 * k, g.velocity)
                    for g in grid]
        out = []
        for g in grid:
            p = g.pitch
            while p < self.min_pitch:
                p += 12
            while p > self.max_pitch:
                p -= 12
            report.notes_moved_by_octave += p != g.pitch
            out.append(GridNote(g.start_step, g.end_step, p, g.velocity))
        return out

    def grid_to_tokens(self, grid: Sequence[GridNote], start_step: int, end_step: int,
                       report: EncodingReport | None = None) -> list[int]:
        """Grid notes -> tokens for the steps [start_step, end_step).

        A note sounding at ``start_step`` that began before it starts there (NEW).  Two
        notes of one pitch at once become one (counted as merged unisons); a step with
        more than ``max_voices`` notes keeps its lowest and highest and loses the lowest
        of the notes between (counted): a band's bass line outlasts a chord's doubling."""
        if end_step < start_step:
            raise EncodingError("the music ends before it starts")
        width = end_step - start_step
        # per step: pitch -> True when a note starts there
        steps: list[dict[int, bool]] = [dict() for _ in range(width)]
        merged = dropped = 0
        for g in sorted(grid, key=lambda g: (g.start_step, -g.pitch)):
            a, b = max(g.start_step, start_step), min(g.end_step, end_step)
            if a >= b:
                continue
            if g.pitch in steps[a - start_step]:
                merged += 1  # a unison: the parts share one note
            for s in range(a, b):
                row = steps[s - start_step]
                row[g.pitch] = row.get(g.pitch, False) or s == a
        # a step over the limit keeps its bass and its top: its lowest inner notes go
        for i, row in enumerate(steps):
            while len(row) > self.max_voices:
                low = sorted(row)[1]
                del row[low]
                dropped += 1
                # the dropped note's later steps go too, so no HOLD lacks its NEW
                j = i + 1
                while j < width and steps[j].get(low) is False:
                    del steps[j][low]
                    j += 1
        tokens: list[int] = []
        off = 1 - self.min_pitch
        hold_off = off + self.pitches
        for row in steps:
            for p in sorted(row, reverse=True):
                tokens.append(p + (off if row[p] else hold_off))
            tokens.append(STEP)
        if report is not None:
            report.merged_unisons, report.dropped_over_voices = merged, dropped
        return tokens

    def tokens_to_grid(self, tokens: Sequence[int], start_step: int = 0,
                       velocity: int = 100) -> list[GridNote]:
        """Tokens -> grid notes.  A HOLD without a sounding note of its pitch starts
        one; a note still sounding after the last token ends one step after the step
        it was last heard in (a step without its STEP still counts)."""
        vocab = self.vocab_size
        step = start_step
        sounding: dict[int, int] = {}  # pitch -> start step, heard in the previous step
        heard: dict[int, int] = {}  # the same, for the current step
        out: list[GridNote] = []
        for tok in tokens:
            tok = int(tok)
            if not 0 <= tok < vocab:
                raise EncodingError(f"token {tok} is outside the vocabulary of {vocab}")
            if tok == STEP:
                for p, s in sounding.items():
                    if p not in heard:
                        out.append(GridNote(s, step, p, velocity))
                sounding, heard = heard, {}
                step += 1
                continue
            p = int(self.token_pitches[tok])
            if self.kinds[tok] == 2 and p in sounding:
                heard[p] = sounding[p]
            else:
                if p in sounding:  # a re-attack ends the note that was sounding
                    out.append(GridNote(sounding.pop(p), step, p, velocity))
                heard[p] = step
        last = step + (1 if heard else 0)
        for p, s in sounding.items():
            if p not in heard:
                out.append(GridNote(s, step, p, velocity))
        for p, s in heard.items():
            out.append(GridNote(s, last, p, velocity))
        return sorted(out)

    # ---- the whole way --------------------------------------------------------------
    def encode_notes(self, notes: Sequence[Note], ppq: int, key: Key | None = None,
                     start_step: int | None = None, end_step: int | None = None) -> Encoded:
        """Notes of any parts, any key -> tokens in C major / A minor."""
        report = EncodingReport(notes_in=len(notes), grid_name="sixteenth-note grid")
        if key is None:
            key = estimate_song_key(notes)
        shift = key.shift_to_c
        grid = self.to_grid(notes, ppq, shift, report)
        if start_step is None:
            start_step = min((g.start_step for g in grid), default=0)
        if end_step is None:
            end_step = max((g.end_step for g in grid), default=start_step)
        tokens = self.grid_to_tokens(grid, start_step, end_step, report)
        if report.merged_unisons:
            report.other.append(f"{report.merged_unisons} notes doubled another part at "
                                f"the unison and were heard as one.")
        if report.dropped_over_voices:
            report.other.append(f"{report.dropped_over_voices} notes were left out: at most "
                                f"{self.max_voices} notes can sound at once (the lowest above the "
                                f"bass went).")
        velocities = sorted(g.velocity for g in grid)
        return Encoded(tokens=tokens, key=key, transpose=shift + 12 * report.octave_shift,
                       start_step=start_step,
                       velocity=velocities[len(velocities) // 2] if velocities else 100,
                       report=report)

    # ---- the Encoding interface -----------------------------------------------------
    def song_to_tokens(self, song: Song) -> list[int] | None:
        """Every part but the drums together, from the first note to the last note's
        end, in C major / A minor; None when nothing but drums or silence."""
        notes = [n for i in playable_tracks(song) for n in song.tracks[i].notes]
        if not notes:
            return None
        return self.encode_tune(notes, song.ppq).tokens

    def encode_tune(self, notes: Sequence[Note], ppq: int) -> Encoded:
        return self.encode_notes(notes, ppq)

    def encode_seed(self, notes: Sequence[Note], ppq: int, key: Key, start_step: int,
                    end_step: int) -> Encoded:
        return self.encode_notes(notes, ppq, key=key, start_step=start_step, end_step=end_step)

    def trim_prime(self, tokens: Sequence[int]) -> list[int]:
        """Training sequences start with their first note: empty steps before it go."""
        tokens = list(tokens)
        first = next((i for i, t in enumerate(tokens) if t != STEP), len(tokens))
        return tokens[first:]

    def transpose_tokens(self, tokens: np.ndarray, semitones: int) -> np.ndarray | None:
        tokens = np.asarray(tokens)
        if not semitones:
            return tokens.copy()
        notes = tokens != STEP
        if not notes.any():
            return tokens.copy()
        p = self.token_pitches[tokens[notes]] + semitones
        if p.min() < self.min_pitch or p.max() > self.max_pitch:
            return None
        moved = tokens.astype(np.int64)
        moved[notes] += semitones
        return moved.astype(tokens.dtype)

    def training_windows(self, tokens: np.ndarray, length: int) -> list[np.ndarray]:
        """Consecutive windows of whole steps, each at most ``length`` tokens (a step
        longer than that is cut), starting the way a seed does: what sounds on from
        before the window starts in it (HOLD -> NEW in its first step)."""
        tokens = np.asarray(tokens)
        if len(tokens) <= length:
            return [tokens]
        ends = np.nonzero(tokens == STEP)[0] + 1  # a step ends after its STEP
        out, start = [], 0
        while start < len(tokens):
            fits = ends[(ends > start) & (ends - start <= length)]
            stop = int(fits[-1]) if len(fits) else min(len(tokens), start + length)
            window = tokens[start:stop].copy()
            first_step = int(np.argmax(window == STEP)) if (window == STEP).any() else len(window)
            head = window[:first_step]
            holds = self.kinds[head] == 2
            head[holds] -= self.pitches  # HOLD(p) -> NEW(p)
            out.append(window)
            start = stop
        return [w for w in out if len(w) >= 2]

    # ---- masks ------------------------------------------------------------------------
    def allowed_tokens(self, pitch_classes: Iterable[int] | None = None,
                       min_pitch: int | None = None, max_pitch: int | None = None) -> np.ndarray:
        """STEP, the HOLDs inside the range (a held note was allowed when it began), and
        the NEWs of ``pitch_classes`` (all when None) inside the range."""
        lo = self.min_pitch if min_pitch is None else min_pitch
        hi = self.max_pitch if max_pitch is None else max_pitch
        p = self.token_pitches
        in_range = (p >= lo) & (p <= hi)
        mask = in_range.copy()
        if pitch_classes is not None:
            pcs = np.zeros(12, dtype=bool)
            pcs[list({int(c) % 12 for c in pitch_classes})] = True
            mask &= (self.kinds != 1) | pcs[p % 12]
        mask[STEP] = True
        return mask

    def first_step_allowed(self, prime: Sequence[int], allowed: np.ndarray) -> np.ndarray:
        """The grammar (:class:`PolyGrammar`) already says what may follow the seed."""
        return allowed

    def start_token(self, pitch_class: int, allowed: np.ndarray) -> int:
        """The NEW of ``pitch_class`` nearest middle C among the allowed ones."""
        news = [t for t in range(1, 1 + self.pitches) if allowed[t]]
        if not news:
            raise EncodingError("no note is allowed to start with")
        same = [t for t in news if self.token_pitches[t] % 12 == pitch_class] or news
        return min(same, key=lambda t: (abs(int(self.token_pitches[t]) - 60), t))

    def grammar(self, batch: int, max_notes: int | None = None,
                ceilings: Sequence[int] | None = None,
                voice_leading: bool = False, max_hold: int | None = None) -> "PolyGrammar":
        return PolyGrammar(self, batch, max_notes, ceilings, voice_leading, max_hold)


def _any(a: np.ndarray, axis) -> np.ndarray:
    """``a.any(axis=axis)`` for a boolean array, without the method's Python wrapper (a
    grammar asks it a dozen times a token)."""
    return _OR(a, axis)


_OR = np.logical_or.reduce
# engine.encodings.grammar_kernels, PartGrammar's compiled mask: imported with the first
# PartGrammar made (importing numba takes a few tenths of a second, which a process that
# only reads and writes files should not pay)
_grammar_kernels = None


def _kernels():
    global _grammar_kernels
    if _grammar_kernels is None:
        from engine.encodings import grammar_kernels

        grammar_kernels.warm()  # compiled or loaded now, not in the middle of a step
        _grammar_kernels = grammar_kernels
    return _grammar_kernels


# what the compiled mask is given for rules without pitch classes or forced notes
_NO_PCS = np.ones((1, 1, 12), bool)
_NO_FORCED = np.zeros((1, 1, 1), np.int8)
_NO_FLAGS = np.zeros((1, 1), bool)
_NO_PARTS = np.zeros(1, np.int64)
_NO_DONE = np.zeros(1, bool)
_MAX = np.maximum.reduce  # .max() without the method's Python wrapper
AHEAD_KEPT = 1024  # the most steps' readings a grammar keeps by their rules (set_step)


class PolyGrammar:
    """What may come next in each row of a batch of polyphonic sequences.

    Within a step, pitches fall strictly (top down); a HOLD needs its pitch sounding in
    the previous step; at most ``max_notes`` notes (``max_voices`` unless fewer are
    asked for), then only STEP; and with ``ceilings``, the j-th note of a step no higher
    than ``ceilings[j]`` (the parts' ranges, top down).  :meth:`mask`
    narrows an allowed-token mask per row; :meth:`push` follows the chosen tokens.
    """

    def __init__(self, enc: PolyphonyEncoding, batch: int, max_notes: int | None = None,
                 ceilings: Sequence[int] | None = None, voice_leading: bool = False,
                 max_hold: int | None = None) -> None:
        self.enc = enc
        # at most this many notes a step (the encoding's limit, or fewer: a generation
        # keeps the seed's number of parts)
        self.max_notes = enc.max_voices if max_notes is None else \
            max(1, min(enc.max_voices, int(max_notes)))
        n = enc.pitches
        self.n = n
        self.batch = batch
        self.prev = np.zeros((batch, n), dtype=bool)  # sounding in the previous step
        self.cur = np.zeros((batch, n), dtype=bool)  # heard so far in this step
        self.below = np.full(batch, n, dtype=np.int64)  # next pitch index must be < this
        self.count = np.zeros(batch, dtype=np.int64)
        self.steps = np.zeros(batch, dtype=np.int64)  # STEPs so far
        self._index = np.arange(n)
        # the highest pitch (model space) the j-th note of a step may have: the parts'
        # own ranges, top down (none when not given)
        top = np.full(self.max_notes + 1, n, dtype=np.int64)
        for j, p in enumerate(list(ceilings or [])[: self.max_notes]):
            top[j] = max(0, min(n, int(p) - enc.min_pitch + 1))
        self._ceiling = top
        # voice leading: the notes of this step and the last by position, top down (-1:
        # none), to keep two parts from moving in parallel fifths or octaves
        self.voice_leading = voice_leading
        self.cur_pos = np.full((batch, self.max_notes + 1), -1, dtype=np.int64)
        self.prev_pos = np.full((batch, self.max_notes + 1), -1, dtype=np.int64)
        self._rows = np.arange(batch)
        # no note held longer than max_hold steps: [batch, pitch] steps each has sounded
        self.max_hold = max_hold
        self.held = np.zeros((batch, n), dtype=np.int64)
        self.cur_new = np.zeros((batch, n), dtype=bool)  # started in this step
        self._positions = np.arange(self.max_notes + 1)
        m = self.max_notes + 1
        # [batch, i, j]: positions i and j of the last step a perfect fifth or octave
        # apart; [batch, i]: position i of this step holds a note that moved
        self._perfect = np.zeros((batch, m, m), dtype=bool)
        self._moved = np.zeros((batch, m), dtype=bool)

    def follow(self, tokens: Sequence[int]) -> None:
        """Read a prime (the same for every row): only its last two steps shape what
        comes next, so only they are read (``steps`` counts from there)."""
        tokens = list(tokens)
        ends = [k for k, t in enumerate(tokens) if t == STEP]
        start = ends[-3] + 1 if len(ends) >= 3 else 0
        for t in tokens[start:]:
            self.push(np.full(self.batch, int(t), dtype=np.int64))

    def mask(self, allowed: np.ndarray) -> np.ndarray:
        """Boolean [batch, vocab]: ``allowed`` ([vocab] or [batch, vocab]) narrowed by
        the grammar."""
        limit = np.minimum(self.below, self._ceiling[np.minimum(self.count, self.max_notes)])
        under = self._index[None, :] < limit[:, None]
        room = (self.count < self.max_notes)[:, None]
        news = under & room
        holds = news & self.prev
        if self.max_hold is not None:
            holds &= self.held < self.max_hold
        if self.voice_leading:
            parallel = self._parallels()
            if parallel is not None:
                news = news & ~parallel
        out = np.empty((self.batch, self.enc.vocab_size), dtype=bool)
        out[:, 0] = True
        out[:, 1:1 + self.n] = news
        out[:, 1 + self.n:] = holds
        return out & allowed

    def _parallels(self) -> np.ndarray | None:
        """Boolean [batch, pitches]: the new notes that would make parallel fifths or
        octaves (or unisons) with a part above, or None when no row has any.  Parts are
        read by position: the j-th note of this step continues the j-th of the last.  A
        note at position j is refused when, for some position i above it, the two were a
        perfect fifth or octave apart (mod 12) in the last step, part i has moved, and
        the new note moves the same way into the same interval."""
        j = np.minimum(self.count, self.max_notes)
        top = int(j.max())
        if top == 0:
            return None
        # the parts above position j that were a perfect interval from it and have moved
        valid = self._perfect[self._rows, :top, j] & self._moved[:, :top] \
            & (self._positions[:top][None, :] < j[:, None])
        if not valid.any():
            return None
        prev_j = self.prev_pos[self._rows, j]
        prev_i, cur_i = self.prev_pos[:, :top], self.cur_pos[:, :top]  # [batch, i]
        d = (prev_i - prev_j[:, None]) % 12
        r, i = np.nonzero(valid)  # the few (row, part above) pairs that matter
        p = self._index[None, :]
        up = cur_i[r, i] > prev_i[r, i]
        same_way = np.where(up[:, None], p > prev_j[r, None], p < prev_j[r, None])
        hit = same_way & (((cur_i[r, i][:, None] - p) % 12) == d[r, i][:, None])
        out = np.zeros((self.batch, self.n), dtype=bool)
        np.logical_or.at(out, r, hit)
        return out

    def push(self, tokens: np.ndarray) -> None:
        tokens = np.asarray(tokens, dtype=np.int64)
        is_step = tokens == STEP
        rows = np.nonzero(~is_step)[0]
        if rows.size:
            idx = (tokens[rows] - 1) % self.n
            at = np.minimum(self.count[rows], self.max_notes)
            self.cur_pos[rows, at] = idx
            if self.voice_leading:
                self._moved[rows, at] = idx != self.prev_pos[rows, at]
            self.cur[rows, idx] = True
            if self.max_hold is not None:
                self.cur_new[rows, idx] = self.enc.kinds[tokens[rows]] == 1
            self.below[rows] = idx
            self.count[rows] += 1
        srows = np.nonzero(is_step)[0]
        if srows.size:
            if self.max_hold is not None:
                # a note sounding in the finished step has sounded one step longer; a
                # note that started in it has sounded one step
                cur = self.cur[srows]
                new = self.cur_new[srows]
                self.held[srows] = np.where(cur, np.where(new, 1, self.held[srows] + 1), 0)
                self.cur_new[srows] = False
            self.prev[srows] = self.cur[srows]
            self.cur[srows] = False
            self.prev_pos[srows] = self.cur_pos[srows]
            self.cur_pos[srows] = -1
            if self.voice_leading:
                pos = self.prev_pos[srows]
                d = (pos[:, :, None] - pos[:, None, :]) % 12
                both = (pos >= 0)[:, :, None] & (pos >= 0)[:, None, :]
                self._perfect[srows] = both & ((d == 0) | (d == 7))
                self._moved[srows] = False
            self.below[srows] = self.n
            self.count[srows] = 0
            self.steps[srows] += 1


@dataclass
class PartRules:
    """What the parts of a generation are and what each may do, for :class:`PartGrammar`.

    Parts are numbered top down (by register).  Pitches are model-space (after the
    encoding's transposition); ``T`` is the number of steps the rules cover (later
    steps are free).

    * ``capacity`` [P]: notes a part may sound at once; ``least`` [P]: the notes a
      sounding part sounds at least (a comping part its usual chord);
    * ``floor`` / ``ceiling`` [P]: each part's range;
    * ``crosses`` [P, P]: pairs of parts that may cross (their seed did); other parts
      keep their order, the higher one above;
    * ``must`` [T, P]: the part sounds in this step (it did there in the seed's bars);
    * ``attack`` [T, P]: 1 the part starts a note here (no hold), -1 it may not start
      one (it holds or rests), 0 free;
    * ``pitch_classes`` [T, P, 12] (optional): the pitch classes a part may sound;
    * ``forced`` [T, P, pitches] (optional): 1 NEW, 2 HOLD of a pitch the part must
      sound, with ``forced_part`` [T, P] the steps where a part is forced (its notes
      are all given: a melody, a kept part, a note sounding into a gap);
    * ``start_prev`` [P, pitches] (optional): the notes each part sounds into the first
      step (they may be held);
    * ``start_top`` [P]: each part's last pitch before the first step (-1: none), for
      the voice leading of the first step; ``centre`` [P]: where each part has been.
    """

    capacity: np.ndarray
    least: np.ndarray
    floor: np.ndarray
    ceiling: np.ndarray
    crosses: np.ndarray
    must: np.ndarray
    attack: np.ndarray
    centre: np.ndarray
    start_top: np.ndarray
    pitch_classes: np.ndarray | None = None
    forced: np.ndarray | None = None
    forced_part: np.ndarray | None = None
    start_prev: np.ndarray | None = None
    #: the song's track each part writes (None: a new voice), for per-part steering
    tracks: tuple | None = None

    @property
    def parts(self) -> int:
        return len(self.capacity)


class PartGrammar:
    """What may come next in each row of a batch when the tokens are heard as parts.

    The tokens are the encoding's (each step's notes top down, then STEP); the grammar
    gives every note to a part as it is written and keeps each part a line of its own:

    * a HOLD continues only a note its own part sounded in the step before, so no part
      ever holds two overlapping notes it did not have room for (``capacity``);
    * parts keep their order (a lower part's notes come after, and below, a higher
      part's, unless the two may cross), each in its own range;
    * STEP waits until every part that must sound has its notes (``must``, ``least``);
    * a part starts notes only where the rules let it (``attack``: a comping part
      re-attacks where its seed did, a line keeps its own onsets);
    * forced notes (a melody, kept parts) come exactly as given;
    * with ``voice_leading``, no part moves in parallel fifths or octaves with another
      part that moves the same way.

    :meth:`mask` narrows an allowed-token mask per row; :meth:`push` follows the chosen
    tokens and records the part of each in ``part_of`` (-1 for STEP).
    """

    def __init__(self, enc: PolyphonyEncoding, batch: int, rules: PartRules,
                 max_hold: int | None = None, voice_leading: bool = True) -> None:
        self.enc = enc
        self.rules = rules
        n, P = enc.pitches, rules.parts
        self.n, self.P, self.batch = n, P, batch
        T = rules.must.shape[0]
        self.T = T
        # the rules padded with one free step for steps beyond them
        # (the types the compiled mask is made for: bool, int8 for attack and forced)
        self._must = np.concatenate([rules.must, np.zeros((1, P), bool)]).astype(bool)
        self._attack = np.concatenate([rules.attack,
                                       np.zeros((1, P), np.int8)]).astype(np.int8)
        pcs = rules.pitch_classes
        self._pcs = None if pcs is None else \
            np.concatenate([pcs, np.ones((1, P, 12), bool)]).astype(bool)
        if rules.forced is not None:
            self._forced = np.concatenate([rules.forced,
                                           np.zeros((1, P, n), np.int8)]).astype(np.int8)
            fp = rules.forced_part
            self._fpart = np.concatenate([fp, np.zeros((1, P), bool)]).astype(bool)
            # a forced part's kept note is not held on into a free step
            after = np.zeros_like(self._fpart)
            after[1:] = self._fpart[:-1] & ~self._fpart[1:]
            self._no_hold = after
        else:
            self._forced = self._fpart = self._no_hold = None
        self._index = np.arange(n)
        self._pc = (self._index + enc.min_pitch) % 12
        self._floor = np.clip(np.asarray(rules.floor) - enc.min_pitch, 0, n - 1)
        self._ceiling = np.clip(np.asarray(rules.ceiling) - enc.min_pitch, -1, n - 1)
        crosses = np.asarray(rules.crosses, bool)
        order = np.arange(P)
        # parts above j that keep their order with j (they close when j gets a note)
        self._above = (order[:, None] < order[None, :]) & ~crosses  # [i, j]: i above j
        # [k, j]: part k is another part than j and not above it (room is kept for k)
        self._others = ~self._above & ~np.eye(P, dtype=bool)
        self._capacity = np.asarray(rules.capacity, np.int64)
        index = np.arange(n)
        self._in_range = (index[None, :] >= self._floor[:, None]) & \
            (index[None, :] <= self._ceiling[:, None])  # [P, n]
        self.max_hold = max_hold
        self.voice_leading = voice_leading
        self.prev = np.zeros((batch, P, n), bool)
        if rules.start_prev is not None:
            self.prev[:] = rules.start_prev[None]
        self.cur = np.zeros((batch, P, n), bool)
        self.cur_new = np.zeros((batch, P, n), bool)
        self.held = np.zeros((batch, P, n), np.int64)
        self.held[self.prev] = 1
        self.count = np.zeros((batch, P), np.int64)
        self.closed = np.zeros((batch, P), bool)
        self.below = np.full(batch, n, np.int64)
        self.steps = np.zeros(batch, np.int64)
        top = np.asarray(rules.start_top, np.int64)
        self.prev_top = np.where(top >= 0, top - enc.min_pitch, -1)[None].repeat(batch, 0)
        self.cur_top = np.full((batch, P), -1, np.int64)
        self.centre = np.asarray(rules.centre, float)[None].repeat(batch, 0) - enc.min_pitch
        self.part_of = np.full(batch, -1, np.int64)
        self._allow_new = np.zeros((batch, P, n), bool)
        self._allow_hold = np.zeros((batch, P, n), bool)
        self._least = np.asarray(rules.least, np.int64)
        _kernels()  # numba's, the first PartGrammar of a process
        # the forced notes read ahead (:meth:`forced_next`; :meth:`_ahead_rows`), made at
        # its first call, and the readings of the steps set_step gave, by their rules
        self._ahead: np.ndarray | None = None
        self._ahead_kept: dict[bytes, np.ndarray] = {}

    def set_step(self, step: int, must: np.ndarray, forced: np.ndarray,
                 forced_part: np.ndarray) -> None:
        """Give the rules of ``step`` (not yet reached) as they become known, for music
        heard as it is played: ``must`` [P], ``forced`` [P, pitches] and ``forced_part``
        [P] as in :class:`PartRules`; the rules grow to cover the step (attack free, no
        pitch-class limit).  Needs rules made with ``forced``."""
        if self._forced is None:
            raise ValueError("set_step needs rules made with forced notes")
        if step >= self.T:
            grow = max(step + 1, 2 * self.T) - self.T
            P, n = self.P, self.n
            self._must = np.concatenate([self._must[:-1], np.zeros((grow + 1, P), bool)])
            self._attack = np.concatenate([self._attack[:-1],
                                           np.zeros((grow + 1, P), np.int8)])
            if self._pcs is not None:
                self._pcs = np.concatenate([self._pcs[:-1], np.ones((grow + 1, P, 12), bool)])
            self._forced = np.concatenate([self._forced[:-1],
                                           np.zeros((grow + 1, P, n), np.int8)])
            self._fpart = np.concatenate([self._fpart[:-1], np.zeros((grow + 1, P), bool)])
            self._no_hold = np.concatenate([self._no_hold, np.zeros((grow, P), bool)])
            self.T += grow
            if self._ahead is not None:  # the new steps read as free, and a new row T
                ahead, first = self._ahead, self.T - grow
                self._ahead = np.concatenate([ahead, np.repeat(ahead[-1:], grow, 0)])
                self._read_step(first)
                self._ahead[first + 1:self.T] = self._ahead[first]
        self._must[step] = must
        self._forced[step] = forced
        self._fpart[step] = forced_part
        # a forced part's kept note is not held on into a free step
        if step > 0:
            self._no_hold[step] = self._fpart[step - 1] & ~self._fpart[step]
        self._no_hold[step + 1] = self._fpart[step] & ~self._fpart[step + 1]
        if self._ahead is not None:  # the step read ahead again
            self._read_step(step)

    # ---- masks ------------------------------------------------------------------------
    def _at(self) -> np.ndarray:
        return np.minimum(self.steps, self.T)

    def forced_next(self, done: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Each row's next token and its part (-1 for STEP) when no row has a choice,
        else None; ``done`` [batch] (optional): rows that may only close steps (STEP).

        A row's next token is forced when it is the only one :meth:`mask` can allow,
        whatever the allowed tokens: the highest forced note still to come (STEP when
        none is left) while no part free in the step may write before it, each being
        closed, full, kept out by a forced part above it still to come (whose notes
        come first), or left no pitch of its range above that note and below the
        step's last note.  Anything else (a free part that might write, a row past the
        rules, a step with a forced note outside the forced parts) is left to the mask.
        The rules' forced notes are read once (a step :meth:`set_step` gives, when it
        comes), so a call costs a few operations on ``[batch, parts]`` arrays instead of
        the mask's over ``[batch, parts, pitches]``."""
        ahead = self._read_ahead() if self._ahead is None else self._ahead
        has_fpart, has_done = self._fpart is not None, done is not None
        token, part = np.empty(self.batch, np.int64), np.empty(self.batch, np.int64)
        # one compiled call (engine.encodings.grammar_kernels.forced_tokens); past the
        # rules: row T, nothing forced
        if _kernels().forced_tokens(
                ahead, self.steps, self.T, self.count, has_fpart,
                self._fpart if has_fpart else _NO_FLAGS, self.below, self._capacity,
                self.closed, has_done, np.asarray(done, bool) if has_done else _NO_DONE,
                token, part):
            return token, part
        return None

    def _read_ahead(self) -> np.ndarray:
        """:meth:`forced_next`'s reading of every step of the rules, and a row T past
        them where nothing is forced."""
        forced, fpart, T = self._forced, self._fpart, self.T
        if forced is None:  # no forced notes: every step free
            forced = np.zeros((T + 1, self.P, self.n), np.int8)
            fpart = np.zeros((T + 1, self.P), bool)
        self._ahead = self._ahead_rows(forced[:T + 1], fpart[:T + 1])
        self._ahead[T, :, :2] = -1
        self._ahead_kept.clear()
        return self._ahead

    def _read_step(self, step: int) -> None:
        """:meth:`forced_next`'s reading of ``step`` after :meth:`set_step` gave its rules;
        steps that repeat one another (a melody's notes) are read once."""
        key = self._forced[step].tobytes() + self._fpart[step].tobytes()
        row = self._ahead_kept.get(key)
        if row is None:
            row = self._ahead_rows(self._forced[step:step + 1], self._fpart[step:step + 1])[0]
            width = self._ahead.shape[1]
            # the narrower of the two widened with copies of its last column (token -1:
            # nothing past it is read)
            if len(row) > width:
                self._ahead = np.concatenate(
                    [self._ahead, np.repeat(self._ahead[:, -1:], len(row) - width, 1)], 1)
                self._ahead_kept.clear()
            elif len(row) < width:
                row = np.concatenate([row, np.repeat(row[-1:], width - len(row), 0)])
            if len(self._ahead_kept) >= AHEAD_KEPT:
                self._ahead_kept.clear()
            self._ahead_kept[key] = row
        self._ahead[step] = row

    def _ahead_rows(self, forced: np.ndarray, fpart: np.ndarray) -> np.ndarray:
        """What :meth:`forced_next` reads of the steps whose rules are ``forced`` [S, P,
        pitches] and ``fpart`` [S, P]: [S, w, 2 + P], per step and count w of its forced
        notes written, the next forced note's token (STEP when none is left; -1 past
        that, and throughout a step with a forced note outside the forced parts), its
        part (-1: STEP) and the lowest pitch index each part might write before it
        (above it, within the part's range; n + 1 for a part that may not: forced, kept
        out by a forced part above it still to come, or left no pitch of its range)."""
        S, P, n = forced.shape
        # every forced note, step by step and top down (the grammar's order: pitch
        # down, then part up), and its place w among its step's
        t, j, q = np.nonzero(forced)
        if len(t) > 1:
            order = np.lexsort((j, -q, t))
            t, j, q = t[order], j[order], q[order]
        counts = np.bincount(t, minlength=S)
        starts = np.cumsum(counts) - counts
        w = np.arange(len(t)) - starts[t]
        out = np.full((S, int(_MAX(counts, initial=0)) + 2, 2 + P), -1, np.int64)
        token, part, high = out[:, :, 0], out[:, :, 1], np.full(out.shape[:2], -1, np.int64)
        token[t, w] = np.where(forced[t, j, q] == 1, 1 + q, 1 + n + q)
        token[np.arange(S), counts] = STEP
        part[t, w], high[t, w] = j, q
        token[_any(_any(forced > 0, 2) & ~fpart, 1)] = -1
        # the parts each note's part, or a later note's of its step, keeps out (their
        # notes would come after a lower part's): sums of the parts above, from the end
        after = np.zeros((len(t) + 1, P), np.int64)
        after[:-1] = np.cumsum(self._above[j][::-1], axis=0)[::-1]
        blocked = np.zeros(out.shape[:2] + (P,), bool)
        blocked[t, w] = after[:-1] > after[(starts + counts)[t]]
        lowest = np.maximum(high[:, :, None] + 1, self._floor)
        out[:, :, 2:] = np.where(fpart[:, None, :] | blocked | (lowest > self._ceiling),
                                 n + 1, lowest)
        return out

    def mask(self, allowed: np.ndarray) -> np.ndarray:
        """Boolean [batch, vocab]: ``allowed`` ([vocab] or [batch, vocab]) narrowed by
        the parts' rules; forced notes are allowed whatever ``allowed`` says.

        Every part at once: a part may write a note of its range below the step's last
        note (and above the highest forced note still to come), when it is neither
        closed, full nor forced, its pitch classes and attack allow it; a HOLD only of
        its own note of the step before (not held past ``max_hold``, nor a forced
        part's kept note into a free step); with ``voice_leading``, no note that starts
        a part's step in parallel fifths or octaves (or unisons) with a part already
        written in it (the two a perfect interval apart, mod 12, in the last step, the
        other part moved, this one moving the same way into the same interval), unless
        the part must sound and has no other way to.  Parts still owed notes (forced
        ones, and those that must sound or have begun a chord short of their
        ``least``, when they can have one) close the ordered parts above them and keep
        room beneath for one another; the highest forced note still to come is
        allowed as given; STEP once nothing is owed (or nothing more can come).  The
        tokens each part was offered are kept for :meth:`push`.  One compiled call
        (:func:`engine.encodings.grammar_kernels.part_mask`)."""
        B, P, n = self.batch, self.P, self.n
        vocab = self.enc.vocab_size
        allowed = np.asarray(allowed)
        if allowed.ndim == 1:
            allowed = allowed[None]
        elif allowed.shape[0] != B or allowed.strides[0] == 0:
            allowed = allowed[:1]  # one row for every row (a broadcast one)
        if allowed.dtype != np.bool_ or not allowed.flags.c_contiguous:
            allowed = np.ascontiguousarray(allowed, dtype=np.bool_)
        out = np.empty((B, vocab), bool)
        new, hold = np.empty((B, P, n), bool), np.empty((B, P, n), bool)
        forced = self._forced is not None
        _kernels().part_mask(
            allowed, self.steps, self.T, self.below, self.cur, self.prev, self.held,
            self.count, self.closed, self.cur_top, self.prev_top, self._must, self._attack,
            self._pcs is not None, self._pcs if self._pcs is not None else _NO_PCS,
            self._pc, forced, self._forced if forced else _NO_FORCED,
            self._fpart if forced else _NO_FLAGS, self._no_hold if forced else _NO_FLAGS,
            self._in_range, self._capacity, self._least, self._above, self._others,
            self.max_hold is not None, 0 if self.max_hold is None else int(self.max_hold),
            bool(self.voice_leading), out, new, hold)
        self._allow_new, self._allow_hold = new, hold
        return out

    # ---- following the chosen tokens ---------------------------------------------------
    def push(self, tokens: np.ndarray, parts: np.ndarray | None = None) -> None:
        """Follow ``tokens`` (one a row); ``parts``: each note's part where the caller
        knows it (a forced note's, as :meth:`forced_next` gives it), else the part the last
        :meth:`mask` offered it to (of those, the one whose recent centre lies nearest; a
        token it did not offer, fed rather than sampled: a part that sounded it, else any
        part).  One compiled call (:func:`engine.encodings.grammar_kernels.part_push`)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        given = parts is not None
        _kernels().part_push(
            tokens, given, np.asarray(parts, dtype=np.int64) if given else _NO_PARTS,
            self.enc.kinds, self._allow_new, self._allow_hold, self._above, self.prev,
            self.cur, self.cur_new, self.held, self.count, self.closed, self.below,
            self.steps, self.cur_top, self.prev_top, self.centre, self.part_of)


POLYPHONY_ENCODING = PolyphonyEncoding()
