"""Follow chords, loose: the chord tones' probability raised, the rhythm left alone.

At each step where the song's chord track has a chord
(:class:`engine.generation.constraints.chords.ChordPlan`), every note-starting token of
a chord tone (:mod:`engine.generation.constraints.chords` says what one is) gets
:data:`LOOSE_BIAS` added to its logit, and all note-starting tokens are then shifted
together so that their total probability stays what the network gave: how often a
note starts is the network's, which note starts leans to the chord.  The bias was
chosen on the part-music corpus's 23 validation chorales (bench/follow_chords.py
``--fit``: the value of LOOSE_BIASES with the fewest bits per note of the real music
given the chords detected from it, for both part models: 2.0; the melody models, scoring
the sopranos alone, would take 3.0, but a melody over chords that are not its own
harmony should stay loose).

:class:`LooseChords` does this for a melody model (a chained mixer that the jobs put
after the others from the follow-chords setting, :func:`melody_chords`; it is not
named in a request), :class:`PartChords` for a
part model's sampler (around its control mixer), and :func:`score_with_chords` scores
a song's tokens with the bias, for ``main.py score --follow-chords loose``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.generation.constraints.chords import ChordPlan, chord_plan
from engine.generation.mixers import Chained, MixContext
from engine.generation.mixers.control import onset_pitches
from engine.song import Song, melody_track

#: the logit added to a chord tone's note start (fitted: bench/follow_chords.py --fit)
LOOSE_BIAS = 2.0
#: the values --fit tries
LOOSE_BIASES = (0.5, 1.0, 1.5, 2.0, 3.0)


def _onset_bias(pitch: np.ndarray, tones: np.ndarray, bias: float) -> np.ndarray:
    """[rows, vocab]: ``bias`` on each note start whose pitch class is a chord tone of
    its row's ``tones`` [rows, 12] (rows with no chord: all False tones)."""
    on = ~np.isnan(pitch)
    pc = np.where(on, np.nan_to_num(pitch) % 12, 0).astype(np.int64)
    return np.where(on[None, :] & tones[:, pc], bias, 0.0)


def keep_onset_mass(logits: np.ndarray, bias: np.ndarray, onsets: np.ndarray,
                    allowed: np.ndarray | None = None) -> np.ndarray:
    """``logits + bias``, the note starts shifted together so that their total
    probability (among ``allowed`` ones, when given) is what it was."""
    out = np.array(logits, dtype=np.float64)
    on = out[:, onsets]
    b = bias[:, onsets]
    ok = np.isfinite(on) if allowed is None else (allowed[:, onsets] & np.isfinite(on))
    top = np.where(ok, on, -np.inf).max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.where(ok, np.exp(on - top), 0.0)
    before, after = e.sum(axis=1), (e * np.exp(b)).sum(axis=1)
    good = (before > 0) & (after > 0)
    shift = np.log(np.where(good, before, 1.0) / np.where(good, after, 1.0))
    out[:, onsets] = on + b + shift[:, None]
    return out


class LooseChords(Chained):
    """Follow chords, loose, for a melody model: ``plan`` (None: nothing changes) from
    the context's song; the grid step of the first token asked about is
    ``context.start_step``."""

    def __init__(self, context: MixContext, inner, plan: ChordPlan | None,
                 bias: float = LOOSE_BIAS) -> None:
        super().__init__(inner)
        self.plan, self.bias = plan, float(bias)
        enc = context.model.encoding
        self.pitch = onset_pitches(enc)
        self.onsets = ~np.isnan(self.pitch)
        self.step = int(context.start_step if context.start_step is not None
                        else len(context.prefix))

    def mix(self, logits: np.ndarray) -> np.ndarray:
        if self.plan is None:
            return logits
        t, ok = self.plan.index(np.array([self.step]))
        if not ok[0]:
            return logits
        tones = np.repeat(self.plan.tones[t], logits.shape[0], axis=0)
        return keep_onset_mass(logits, _onset_bias(self.pitch, tones, self.bias),
                               self.onsets)

    def update(self, tokens: np.ndarray) -> None:
        super().update(tokens)
        self.step += 1


class PartChords:
    """Follow chords, loose, in a part model's sampler: around its control mixer
    (``inner``, may be None), the NEW tokens of chord tones raised at each row's step
    (``grammar.steps`` counted from ``start_step``), keeping the allowed NEW tokens'
    total probability."""

    def __init__(self, inner, enc, grammar, plan: ChordPlan, start_step: int,
                 bias: float = LOOSE_BIAS) -> None:
        self.inner, self.grammar, self.plan = inner, grammar, plan
        self.bias = float(bias)
        self.since = np.array(grammar.steps, copy=True)
        self.start_step = int(start_step)
        self.onsets = np.asarray(enc.kinds == 1)
        self.pitch = np.where(self.onsets, enc.token_pitches, np.nan).astype(np.float64)

    def __call__(self, logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.inner is not None:
            logits = self.inner(logits, mask)
        steps = self.start_step + (self.grammar.steps - self.since)
        t, ok = self.plan.index(steps)
        tones = self.plan.tones[t] & ok[:, None]
        mask = np.broadcast_to(mask, logits.shape)
        return keep_onset_mass(logits, _onset_bias(self.pitch, tones, self.bias),
                               self.onsets, mask)

    def update(self, tokens: np.ndarray) -> None:
        if self.inner is not None:
            self.inner.update(tokens)


def part_chords(inner, settings, enc, grammar, song: Song | None, start_step: int,
                steps: int, transpose: int):
    """``inner`` wrapped by :class:`PartChords` when ``settings`` follow chords loosely
    and the song has chords over the steps; else ``inner`` as it is."""
    if getattr(settings, "follow_chords", "off") != "loose":
        return inner
    plan = chord_plan(song, enc, start_step, steps, transpose)
    return inner if plan is None else PartChords(inner, enc, grammar, plan, start_step)


def token_steps(enc, tokens: Sequence[int], start_step: int) -> np.ndarray:
    """The grid step of each token: one a token for a melody encoding, and for a part
    encoding the step its notes are in (a STEP token closes its step)."""
    tokens = np.asarray(tokens, np.int64)
    kinds = getattr(enc, "kinds", None)
    if kinds is None:
        return start_step + np.arange(len(tokens))
    is_step = np.asarray(kinds)[tokens] == 0
    return start_step + np.concatenate([[0], np.cumsum(is_step)[:-1]]).astype(np.int64)


def score_with_chords(model, song: Song, bias: float = LOOSE_BIAS
                      ) -> tuple[float, int, int]:
    """Bits of ``song``'s tokens under ``model`` with the loose chord bias of the song's
    chord track (as :meth:`engine.models.StepModel.score_tokens` counts them: every
    token after the first; returns bits, tokens scored, note starts among them)."""
    enc = model.encoding
    if enc.song_to_tokens(song) is None:
        return 0.0, 0, 0
    encoded = _encoded(enc, song)
    tokens = np.asarray(encoded.tokens, np.int32)
    if len(tokens) < 2:
        return 0.0, 0, 0
    logits = model.sequence_logits(tokens[None, :-1])[0].astype(np.float64)
    steps = token_steps(enc, tokens, encoded.start_step)
    plan = chord_plan(song, enc, encoded.start_step, int(steps[-1] - encoded.start_step) + 1,
                      encoded.transpose)
    if plan is not None and bias:
        t, ok = plan.index(steps[1:])
        tones = plan.tones[t] & ok[:, None]
        pitch = np.where(np.asarray(enc.onset_mask, bool),
                         _pitches(enc), np.nan)
        logits = keep_onset_mass(logits, _onset_bias(pitch, tones, bias),
                                 np.asarray(enc.onset_mask, bool))
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    targets = tokens[1:]
    nats = log_z - logits[np.arange(len(targets)), targets]
    return float(nats.sum() / np.log(2.0)), len(targets), enc.count_onsets(targets)


def _pitches(enc) -> np.ndarray:
    tp = getattr(enc, "token_pitches", None)
    if tp is not None:
        return np.where(np.asarray(tp) >= 0, np.asarray(tp), np.nan).astype(np.float64)
    return onset_pitches(enc)


def _encoded(enc, song: Song):
    """The song's tokens as ``song_to_tokens`` makes them, with their start step and
    transposition (the melody track for a melody model, every playable part else)."""
    from engine.encodings.polyphony import playable_tracks

    if hasattr(enc, "kinds"):
        notes = [n for i in playable_tracks(song) for n in song.tracks[i].notes]
    else:
        notes = song.tracks[melody_track(song)].notes
    return enc.encode_tune(notes, song.ppq)


def melody_chords(inner, context: MixContext, steps: int, transpose: int):
    """``inner`` wrapped by :class:`LooseChords` when the settings follow chords loosely
    and the context's song has chords over the ``steps`` steps from
    ``context.start_step``; else ``inner`` as it is."""
    if getattr(context.settings, "follow_chords", "off") != "loose":
        return inner
    start = int(context.start_step if context.start_step is not None else 0)
    plan = chord_plan(context.song, context.model.encoding, start, steps, transpose)
    return inner if plan is None else LooseChords(context, inner, plan)


def part_following(settings, rule, mixer, plan: ChordPlan | None, start_step: int):
    """What follow chords adds to a part model's sampler: (its mixer, wrapped by
    :class:`PartChords` when loose; the makers of more constraints from the grammar's
    ``rule``, :class:`engine.generation.constraints.chords.PartStrict` when strict).
    Nothing without a ``plan``."""
    from engine.generation.constraints.chords import PartStrict

    mode = getattr(settings, "follow_chords", "off")
    if plan is None or mode == "off":
        return mixer, ()
    if mode == "loose":
        return PartChords(mixer, rule.context.model.encoding, rule.grammar, plan,
                          start_step), ()
    return mixer, (lambda r: PartStrict(r.context, r, plan, start_step),)
