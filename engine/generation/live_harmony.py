"""Harmonising a melody while it is played, one sixteenth-note step at a time.

Offline Harmonise (:func:`engine.generation.polyphony.generate_polyphony`) knows the
whole melody before it writes a note: it reads the key and the register from all of
it and makes the first and last chords the tonic.  A live partner knows only what
has been played, so :class:`LiveHarmony` takes the melody step by step: each step it
is told the pitch the player holds (or none) and whether it starts there, forces it as
the top part and samples the voices beneath with the polyphonic model, one step-model
call per token, the whole performance kept as the model's context.  The parts are
kept lines by the same grammar as Harmonise (:class:`PartGrammar`), with the same
voice ranges (``HARMONY_SLOTS``), key lock and voice leading; what it lacks is only
the lookahead: the key is given, not estimated, the register follows the first note,
and there is no forced cadence (the piece's end is not known until it has ended).

:func:`harmonise_steps` runs the same harmoniser over a whole melody at once: the
offline reference a live performance must equal note for note (same melody on the
step grid, same model, same RNG seed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from engine.encodings import Key
from engine.encodings.polyphony import STEP, PartGrammar, PartRules
from engine.errors import GenerationError
from engine.generation.constraints.grammar import VOICE_LEADING
from engine.generation.generator import GenerationSettings, allowed_tokens
from engine.generation.polyphony import HARMONY_SLOTS, SOPRANO_CENTRE, lock_scale, require_parts
from engine.generation.sampler import Sampler
from engine.models import StepModel

MODES = ("harmonise", "bass")
# the voices beneath the melody, by how many the player asked for (slots of HARMONY_SLOTS)
VOICE_SLOTS = {3: (0, 1, 2), 2: (0, 2), 1: (2,)}
MAX_HOLD_STEPS = 16  # a voice holds a note at most a whole bar of 4/4
# a gap this many steps long between two melody notes is heard as articulation, not as a
# rest: the model hears the note held on (a player's detached eighths are still a line)
LEGATO_STEPS = 1


class Speculation:
    """The model's call for a step's melody note, made before the key is pressed.

    A step's first call feeds its melody note, which only the press tells: NEW(p) for
    the pitch pressed, or HOLD of the pitch held on.  :meth:`run` feeds every candidate
    at once, one batch row each (a copy of the live state's row), while the loop waits
    for the key; when the press comes, :meth:`adopt` takes the row of the token played
    into the live state: its logits, and the state slots that call wrote.  That is
    exactly the call made then (the same numbers: a row of a batch is computed as a
    batch of one; tests/engine/test_live_speculation.py checks it), so the tokens and
    the RNG's draws are unchanged; the press waits for the draws and the later voices'
    calls only.

    It uses the state's rings as :class:`engine.models.step_model.StepState` documents
    them: a call at step ``t`` reads, per state, slot ``(t - delay) % ring`` and writes
    slot ``t % ring``; nothing else.  The later voices' calls cannot be made ahead: each
    feeds a token drawn from the logits of the call before it."""

    def __init__(self, model: StepModel, tokens: Sequence[int]) -> None:
        self.model = model
        self._delays = [s.delay for s in model.info.states]
        # one row per token, and a last row whose token each run names (a HOLD)
        self.tokens = np.array([*tokens, tokens[0]], dtype=np.int64)
        self._row = np.full(model.encoding.vocab_size, -1, dtype=np.int64)  # token -> row
        self._row[self.tokens[:-1]] = np.arange(len(tokens))
        self.state = model.initial_state(len(self.tokens))
        self.at: int | None = None  # the live state's step the rows were fed at
        self._of: object | None = None  # ... and which live state
        self.adopted = 0  # calls taken from a row, not made on the key

    def run(self, live, last: int | None = None) -> None:
        """Feed every token, and ``last`` in the last row, into a copy of ``live``'s
        row at its step.  Allocates nothing: it runs while the player plays."""
        self.at = None
        self.tokens[-1] = self.tokens[0] if last is None else last
        t = live.t
        for src, dst, delay in zip(live.buffers, self.state.buffers, self._delays):
            slot = (t - delay) % src.shape[0]
            dst[slot] = src[slot, 0]
        self.state.t = t
        self.model.step(self.tokens, self.state, copy=False)
        self.at, self._of = t, live

    def _row_of(self, token: int) -> int:
        return len(self.tokens) - 1 if token == self.tokens[-1] else int(self._row[token])

    def ready(self, live, token: int) -> bool:
        """Whether the call feeding ``token`` into ``live`` now has been made."""
        return self.at is not None and self.at == live.t and self._of is live \
            and self._row_of(token) >= 0

    def adopt(self, live, token: int) -> np.ndarray:
        """``live`` fed ``token``, from its row (:meth:`ready` first): the logits
        [1, vocab] for the token after it."""
        j, t = self._row_of(token), live.t
        for src, dst in zip(self.state.buffers, live.buffers):
            slot = t % src.shape[0]
            dst[slot, 0] = src[slot, j]
        live.t = t + 1
        self.at = None
        self.adopted += 1
        return self.state.logits[j:j + 1].copy()

    def drop(self) -> None:
        self.at = self._of = None

    def close(self) -> None:
        self.drop()
        if self.state is not None:
            self.model.release(self.state)
            self.state = None


@dataclass
class Step:
    """What one step played: ``starts`` and ``ends`` as (voice, MIDI pitch), voices
    numbered from 1 (0 is the melody); ``tokens`` the model's tokens of the step;
    ``velocities`` one per start where the part chooses them (drums), else empty."""

    index: int
    starts: list[tuple[int, int]] = field(default_factory=list)
    ends: list[tuple[int, int]] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    dropped: bool = False
    velocities: list[int] = field(default_factory=list)


class LiveHarmony:
    """The voices beneath a melody heard one step at a time.

    ``mode`` "harmonise" writes ``voices`` (2 or 3) voices, "bass" one.  ``key`` locks
    the voices to its scale (the raised sixth and seventh too in minor) and sets the
    model's transposition; None: C major, no lock.  Call :meth:`step` once per step of
    the clock, from the player's first note on (steps before it are not heard)."""

    def __init__(self, model: StepModel, key: Key | None = None, *, mode: str = "harmonise",
                 voices: int = 3, temperature: float = 1.0, top_p: float = 1.0,
                 rng_seed: int = 0, speculate: bool = True) -> None:
        require_parts(model, "choose a polyphonic model to accompany")
        if mode not in MODES:
            raise GenerationError(f"the live mode must be one of {', '.join(MODES)}, "
                                  f"not {mode!r}")
        if mode == "bass":
            voices = 1
        elif voices not in (2, 3):
            raise GenerationError(f"live Harmonise writes 2 or 3 voices, not {voices}")
        settings = GenerationSettings(model=model.name, temperature=temperature, top_p=top_p,
                                      rng_seed=rng_seed, key=None if key is None else key.name)
        settings.validate()
        # the part grammar's compiled kernels, loaded (or, once per install, compiled) now:
        # the grammar is made at the player's first note, which must not wait for them
        from engine.encodings import grammar_kernels

        grammar_kernels.warm()
        self.model = model
        self.enc = model.encoding
        self.key = key
        self.mode = mode
        self.voices = voices
        self.transpose = key.shift_to_c if key is not None else 0
        scale = lock_scale(key, [])[0] if key is not None else None
        self.allowed = allowed_tokens(model, settings, key, scale, self.transpose)
        self._allowed = self.allowed[None]  # [1, vocab]: the grammar's batch of one
        self.sampler = Sampler(temperature, top_p, np.random.default_rng(int(rng_seed)))
        self.slots = VOICE_SLOTS[voices]
        self.grammar: PartGrammar | None = None
        # the model's state (and its session) now, not at the first key: a WaveNet's
        # bound state costs some 10 ms, which the first press waited for
        self.state = model.initial_state(1)
        self.logits: np.ndarray | None = None
        self.steps = 0  # steps heard since the first note
        self.sounding: dict[int, int] = {}  # voice -> MIDI pitch it sounds now
        self.notes: list[tuple[int, int, int, int]] = []  # (voice, start, end, pitch) done
        self._open: dict[int, int] = {}  # voice -> start step of its sounding note
        self._one = np.zeros(1, dtype=np.int64)
        self._part = np.zeros(1, dtype=np.int64)
        self._pending: list[int] = []  # tokens the grammar has and the model has not heard
        self._last_pitch: int | None = None  # the melody's last pitch
        self._rest_run = 0  # steps since the melody's last pitch ended
        self.names = [HARMONY_SLOTS[s][0] for s in self.slots]
        # the melody's candidate tokens fed ahead of the key (:meth:`speculate`): a NEW
        # of every pitch the melody can take in model space (:meth:`_model_pitch`), and
        # the HOLD of the pitch it can hold on (the key held, or a legato gap)
        lo, hi = self.enc.min_pitch + 12, self.enc.max_pitch
        self.speculation = Speculation(model, [self.enc.new(p) for p in range(lo, hi + 1)]) \
            if speculate else None

    # ---- the parts --------------------------------------------------------------------
    def _begin(self, pitch: int) -> None:
        """The grammar, at the first note (its register places the voices, as
        Harmonise's melody does)."""
        enc = self.enc
        shift = 12 * round((pitch - SOPRANO_CENTRE) / 12)
        P = 1 + self.voices
        low = [enc.min_pitch] + [HARMONY_SLOTS[s][1] + shift for s in self.slots]
        high = [enc.max_pitch] + [HARMONY_SLOTS[s][2] + shift for s in self.slots]
        floor = np.array([lo + (self.transpose if i else 0) for i, lo in enumerate(low)])
        ceiling = np.array([hi + (self.transpose if i else 0) for i, hi in enumerate(high)])
        rules = PartRules(capacity=np.ones(P, np.int64), least=np.ones(P, np.int64),
                          floor=floor, ceiling=ceiling, crosses=np.zeros((P, P), bool),
                          must=np.zeros((1, P), bool), attack=np.zeros((1, P), np.int8),
                          centre=(floor + ceiling) / 2.0, start_top=np.full(P, -1, np.int64),
                          forced=np.zeros((1, P, enc.pitches), np.int8),
                          forced_part=np.zeros((1, P), bool))
        self.grammar = PartGrammar(enc, 1, rules, max_hold=MAX_HOLD_STEPS,
                                   voice_leading=VOICE_LEADING)

    def _heard(self, pitch: int | None, onset: bool) -> tuple[int | None, bool]:
        """The melody as the model hears it: a gap of up to LEGATO_STEPS after a note
        holds that note on."""
        if pitch is not None:
            self._last_pitch, self._rest_run = pitch, 0
            return pitch, onset
        self._rest_run += 1
        if self._last_pitch is not None and self._rest_run <= LEGATO_STEPS:
            return self._last_pitch, False
        return None, False

    def _model_pitch(self, pitch: int) -> int:
        """The melody's pitch in model space, moved by octaves into the range that
        leaves room for voices beneath."""
        p = pitch + self.transpose
        lo, hi = self.enc.min_pitch + 12, self.enc.max_pitch
        while p < lo:
            p += 12
        while p > hi:
            p -= 12
        return p

    def _rules(self, t: int, mp: int, onset: bool) -> None:
        enc, P = self.enc, 1 + self.voices
        forced = np.zeros((P, enc.pitches), np.int8)
        if mp >= 0:
            forced[0, mp - enc.min_pitch] = 1 if onset else 2
        must = np.zeros(P, bool)
        must[1:] = mp >= 0
        part = np.zeros(P, bool)
        part[0] = True
        self.grammar.set_step(t, must, forced, part)

    # ---- stepping ---------------------------------------------------------------------
    def _start_step(self, pitch: int | None, onset: bool, first_starts: bool
                    ) -> tuple[int, int, bool] | None:
        """A step begun: the model has heard the last one, and the grammar has this
        one's rules (the melody as heard); (the step, the melody's model pitch or -1,
        whether it starts there), or None before the first note.  ``first_starts``: the
        melody starts a note at the first step whatever the player did."""
        if self.grammar is None:
            if pitch is None:
                return None
            self._begin(pitch)
        self.prepare()
        t = self.steps
        pitch, onset = self._heard(pitch, onset)
        mp = -1 if pitch is None else self._model_pitch(pitch)
        # a new pitch in the melody starts a note, whatever the player did
        onset = bool(onset or mp != self._last_mp or (first_starts and t == 0))
        self._last_mp = mp
        self._rules(t, mp, onset)
        return t, mp, onset

    def step(self, pitch: int | None, onset: bool) -> Step:
        """One step: the melody's MIDI ``pitch`` (None: it rests) and whether it starts
        here.  The voices' tokens are sampled up to the step's end; the logits for the
        next step are computed before returning (call :meth:`prepare` first to send the
        notes sooner)."""
        out = self.sample(pitch, onset)
        self.prepare()
        return out

    def sample(self, pitch: int | None, onset: bool) -> Step:
        """The step's tokens up to and including its STEP.  A token that is the only one
        allowed (the melody's, the STEP once every voice is written) is taken without a
        draw and needs no logits, so the model hears the step's last note and its STEP
        only in :meth:`prepare`, after the notes have gone out; a forced one
        (:meth:`PartGrammar.forced_next`: those two, mostly) needs no grammar mask either
        (tests/engine/test_live_harmony_shortcuts.py checks it)."""
        if (begun := self._start_step(pitch, onset, first_starts=False)) is None:
            return Step(-1)
        t = begun[0]
        row: list[int] = []
        parts: list[int] = []
        for _ in range(2 + 2 * self.enc.max_voices):
            part = None
            if (forced := self.grammar.forced_next()) is not None:
                # the melody's note (the top part is forced and every voice sits beneath
                # it), the STEP once every voice is written: no mask, no draw
                tok, part = int(forced[0][0]), int(forced[1][0])
            elif len(only := np.flatnonzero(mask := self.grammar.mask(self._allowed)[0])) == 1:
                tok = int(only[0])
            else:
                self._feed_pending()
                drawn = self.sampler(self.logits.astype(np.float64), Sampler.mask(mask[None]))
                if drawn is None:
                    raise GenerationError(f"the model {self.model.name} computed invalid "
                                          f"numbers (NaN or infinity); its weights are "
                                          f"probably damaged")
                tok = int(drawn[0])
            self._take(tok, row, parts, part)
            if tok == STEP:
                break
        else:
            raise GenerationError("the live harmony did not close its step")
        return self._played(t, row, parts, dropped=False)

    def _take(self, tok: int, row: list[int], parts: list[int], part: int | None = None
              ) -> None:
        """The grammar follows ``tok`` (in ``part`` where known, else the part its last
        mask offered it to); the model hears it later."""
        row.append(tok)
        self._one[0] = tok
        if part is None:
            self.grammar.push(self._one)
        else:
            self._part[0] = part
            self.grammar.push(self._one, self._part)
        parts.append(-1 if tok == STEP else int(self.grammar.part_of[0]))
        self._pending.append(tok)

    def _feed_pending(self) -> None:
        """The model hears the tokens taken but not yet fed (the first from the
        speculation's row when it was fed ahead)."""
        spec = self.speculation
        for i, tok in enumerate(self._pending):
            if i == 0 and spec is not None and spec.ready(self.state, tok):
                self.logits = spec.adopt(self.state, tok)
                continue
            self._one[0] = tok
            self.logits = self.model.step(self._one, self.state, copy=False)
        self._pending.clear()

    def speculate(self) -> bool:
        """Feed the next step's possible melody notes ahead of the key (call while
        waiting for it); the step then skips that call when its note is one of them.
        The calls a step still owes (a dropped step's) are made first, as
        :meth:`prepare` would.  Exact: the step's tokens are the same with or without.
        False when it does not feed ahead (made without, or closed)."""
        if self.speculation is None or self.state is None:
            return False
        self.prepare()
        self.speculation.run(self.state, self.enc.hold(self._last_mp)
                             if self._last_mp >= 0 else None)
        return True

    def prepare(self) -> None:
        """The model calls the last step still owes (its last tokens and its STEP): the
        logits the next step starts from."""
        if self.grammar is not None and self._pending:
            self._feed_pending()

    _last_mp = -1

    def hold_over(self, pitch: int | None, onset: bool) -> Step:
        """A step the clock left no time for: the model hears the melody and the voices
        held as they were (those still beneath it), fed, not sampled; nothing new
        sounds."""
        if (begun := self._start_step(pitch, onset, first_starts=True)) is None:
            return Step(-1, dropped=True)
        t, mp, onset = begun
        row: list[int] = []
        parts: list[int] = []
        tokens = []
        if mp >= 0:
            tokens.append(self.enc.new(mp) if onset else self.enc.hold(mp))
        for v in sorted(self.sounding):
            q = self.sounding[v] + self.transpose
            if (mp < 0 or q < mp) and (not tokens or q < self.enc.token_pitches[tokens[-1]]) \
                    and self.enc.min_pitch <= q <= self.enc.max_pitch:
                tokens.append(self.enc.hold(q))
        tokens.append(STEP)
        for tok in tokens:
            self.grammar.mask(self._allowed)  # the parts that may take each token now
            self._one[0] = tok
            self.grammar.push(self._one)
            row.append(tok)
            parts.append(int(self.grammar.part_of[0]))
            self._pending.append(tok)  # heard by the model at the next step
        return self._played(t, row, parts, dropped=True)

    def _played(self, t: int, row: list[int], parts: list[int], dropped: bool) -> Step:
        """The notes a step's tokens start and end, per voice."""
        enc = self.enc
        out = Step(t, tokens=row, dropped=dropped)
        now: dict[int, tuple[int, bool]] = {}
        for tok, j in zip(row, parts):
            if tok == STEP or j <= 0:
                continue
            now[j] = (int(enc.token_pitches[tok]) - self.transpose, bool(enc.kinds[tok] == 1))
        for v, p in list(self.sounding.items()):
            if v not in now or now[v][1] or now[v][0] != p:
                out.ends.append((v, p))
                self.notes.append((v, self._open.pop(v), t, p))
                del self.sounding[v]
        for v, (p, new) in sorted(now.items()):
            if v not in self.sounding:
                out.starts.append((v, p))
                self.sounding[v] = p
                self._open[v] = t
        self.steps += 1
        return out

    def finish(self) -> list[tuple[int, int, int, int]]:
        """End every voice's note (at the current step); all notes (voice, start step,
        end step, MIDI pitch), in the order they ended."""
        for v, p in list(self.sounding.items()):
            self.notes.append((v, self._open.pop(v), self.steps, p))
        self.sounding.clear()
        return list(self.notes)

    def close(self) -> None:
        if self.speculation is not None:
            self.speculation.close()
        if self.state is not None:
            self.model.release(self.state)
            self.state = None


def melody_grid(notes: Sequence[tuple[int, int, int]]) -> list[tuple[int | None, bool]]:
    """Per step, the melody's (pitch or None, starts here) from (start step, end step,
    pitch) notes; a note cut by the next one ends where it begins."""
    notes = sorted(notes)
    end = max((e for _, e, _ in notes), default=0)
    out: list[tuple[int | None, bool]] = [(None, False)] * end
    for i, (s, e, p) in enumerate(notes):
        if i + 1 < len(notes):
            e = min(e, notes[i + 1][0])
        for t in range(s, max(e, s + 1)):
            out[t] = (p, t == s)
    return out


def harmonise_steps(model: StepModel, melody: Sequence[tuple[int | None, bool]],
                    key: Key | None = None, **options) -> tuple[list[Step], LiveHarmony]:
    """The live harmoniser over a whole melody at once (per step: pitch or None, onset),
    from its first note: the offline reference of a live performance."""
    live = LiveHarmony(model, key, **options)
    steps = []
    started = False
    for pitch, onset in melody:
        if not started and pitch is None:
            continue
        started = True
        steps.append(live.step(pitch, onset))
    return steps, live
