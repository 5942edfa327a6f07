"""The part grammar and the parallels rules as numpy computed them before their steps
were compiled (engine/encodings/polyphony.py's PartGrammar,
engine/generation/constraints/parallels.py's BeatParallels and
engine/generation/jobs/regenerate.py's FixedParallels at commit 3302c5b), kept for
the tests alone: tests/engine/test_grammar_kernels.py holds the compiled grammar
(engine/encodings/grammar_kernels.py) to them, mask for mask and state for state.  Not
imported by the engine."""
# flake8: noqa

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from engine.encodings.polyphony import STEP, PartRules

AHEAD_KEPT = 1024


def _any(a: np.ndarray, axis) -> np.ndarray:
    return _OR(a, axis)


_OR = np.logical_or.reduce
_ADD, _MAX, _MIN = np.add.reduce, np.maximum.reduce, np.minimum.reduce


class ReferenceGrammar:
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

    def __init__(self, enc, batch: int, rules: PartRules,
                 max_hold: int | None = None, voice_leading: bool = True) -> None:
        self.enc = enc
        self.rules = rules
        n, P = enc.pitches, rules.parts
        self.n, self.P, self.batch = n, P, batch
        T = rules.must.shape[0]
        self.T = T
        # the rules padded with one free step for steps beyond them
        self._must = np.concatenate([rules.must, np.zeros((1, P), bool)])
        self._attack = np.concatenate([rules.attack, np.zeros((1, P), np.int8)])
        pcs = rules.pitch_classes
        self._pcs = None if pcs is None else np.concatenate([pcs, np.ones((1, P, 12), bool)])
        if rules.forced is not None:
            self._forced = np.concatenate([rules.forced, np.zeros((1, P, n), np.int8)])
            fp = rules.forced_part
            self._fpart = np.concatenate([fp, np.zeros((1, P), bool)])
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
        self._rows = np.arange(batch)
        self._least = np.asarray(rules.least)[None, :]
        self._not_self = ~np.eye(P, dtype=bool)[None]  # [1, i, j]: two different parts
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
        t = np.minimum(self.steps, self.T)  # past the rules: row T, nothing forced
        count = self.count
        w = 0 if self._fpart is None else _ADD(count, 1, where=self._fpart[t])
        known = ahead[t, w]  # [batch, 2 + P]: the step's forced notes written: w
        # a part may write when it has a pitch of its range between the forced note and
        # the step's last note, and is neither closed nor full
        may = (known[:, 2:] < self.below[:, None]) & ((count < self._capacity) > self.closed)
        token, part = known[:, 0], known[:, 1]
        if done is not None and _OR(done):
            may[done] = False
            token = np.where(done, STEP, token)
            part = np.where(done, -1, part)
        if _OR(may, None) or _MIN(token) < 0:
            return None
        return token, part

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
        the parts' rules; forced notes are allowed whatever ``allowed`` says."""
        B, P, n = self.batch, self.P, self.n
        at = self._at()
        idx = self._index[None, :]
        if allowed.shape != (B, self.enc.vocab_size):
            allowed = np.broadcast_to(allowed, (B, self.enc.vocab_size))
        a_new, a_hold = allowed[:, 1:1 + n], allowed[:, 1 + n:]
        under = idx < self.below[:, None]
        fpart = self._fpart[at] if self._fpart is not None else np.zeros((B, P), bool)
        if self._forced is not None:
            unwritten = (self._forced[at] > 0) & ~self.cur  # [B, P, n]
            pending = _any(unwritten, 2)  # parts with forced notes still to come
            any_unw = _any(unwritten, 1)
            fhigh = np.where(_any(any_unw, 1), n - 1 - np.argmax(any_unw[:, ::-1], axis=1), -1)
        else:
            unwritten = None
            pending = np.zeros((B, P), bool)
            fhigh = np.full(B, -1, np.int64)
        over_forced = idx > fhigh[:, None]
        must = self._must[at] & ~fpart
        attack = self._attack[at]
        least = self._least
        # every part at once: [B, P, n]
        ok = ~self.closed & (self.count < self._capacity[None, :]) & ~fpart
        rng = (self._in_range[None] & (under & over_forced)[:, None, :] & ok[:, :, None])
        if self._pcs is not None:
            rng &= self._pcs[at][:, :, self._pc]
        prev = self.prev
        # a part that must sound with nothing to hold may start a note anywhere
        attack = np.where((attack == -1) & must & ~_any(prev, 2), 0, attack)
        new = rng & (attack != -1)[:, :, None] & a_new[:, None, :]
        hold = rng & prev & (attack != 1)[:, :, None] & a_hold[:, None, :]
        if self._no_hold is not None:
            hold &= ~self._no_hold[at][:, :, None]
        if self.max_hold is not None:
            hold &= self.held < self.max_hold
        loose = new | hold  # before the voice leading
        par = self._parallels() if self.voice_leading else None
        if par is not None:
            # a part that must sound and has no other way to is not silenced
            free = new & ~par
            keep = _any(free, 2) | _any(hold, 2) | ~must
            new = np.where(keep[:, :, None], free, new)
        raw_new, raw_hold = new, hold
        can = _any((raw_new | raw_hold), 2)
        # each part's lowest possible note now (n when none), parallels allowed: a part
        # that must sound may take one rather than fall silent
        lowest = np.where(_any(loose, 2), np.argmax(loose, axis=2), n)
        # parts still owed notes: forced ones, and those that must sound (or have begun
        # a chord) short of their least, when they can have one
        need = pending | (((must & (self.count == 0)) | ((self.count > 0) & (self.count < least)))
                          & ~self.closed & can)
        if need.any():
            # a note of j closes the ordered parts above it: none may still be owed
            blocked = _any((need[:, :, None] & self._above[None]), 1)  # [B, j]
            # room beneath for the other parts owed a note (those above j block it)
            owed = np.where(need & ~pending, lowest, -1)  # [B, k]
            room = np.where(self._others[None], owed[:, :, None], -1).max(axis=1)  # [B, j]
            keep = ~blocked[:, :, None] & (self._index[None, None, :] > room[:, :, None])
            raw_new &= keep
            raw_hold &= keep
        if unwritten is not None:
            # the highest forced note still to come is allowed, as given
            rows = np.nonzero(fhigh >= 0)[0]
            if rows.size:
                f = fhigh[rows]
                part = np.argmax(unwritten[rows, :, f], axis=1)
                kind = self._forced[at[rows], part, f]
                raw_new[rows, part, f] = kind == 1
                raw_hold[rows, part, f] = kind == 2
                # and nothing of that part beneath it before it
        self._allow_new, self._allow_hold = raw_new, raw_hold
        out = np.zeros((B, self.enc.vocab_size), bool)
        out[:, 1:1 + n] = _any(raw_new, 1)
        out[:, 1 + n:] = _any(raw_hold, 1)
        # STEP once nothing is owed (or nothing more can come)
        out[:, 0] = ~_any(need, 1) | ~_any(out[:, 1:], 1)
        return out

    def _parallels(self) -> np.ndarray | None:
        """Boolean [batch, parts, pitches]: the notes that would start a part's step in
        parallel fifths or octaves (or unisons) with a part already written in this
        step: the two a perfect interval apart (mod 12) in the last step, the other part
        moved, and this note moving the same way into the same interval; None when no
        row has any."""
        ci, pi = self.cur_top[:, :, None], self.prev_top[:, :, None]  # [B, i, 1]
        pj = self.prev_top[:, None, :]  # [B, 1, j]
        d = (pi - pj) % 12  # [B, i, j]
        valid = ((self.count == 0)[:, None, :] & (ci >= 0) & (pi >= 0) & (pj >= 0)
                 & (ci != pi) & ((d == 0) | (d == 7)) & self._not_self)
        if not valid.any():
            return None
        b, i, j = np.nonzero(valid)  # the few (row, part above, part) triples that matter
        p = self._index[None, :]
        c, q, r = self.cur_top[b, i][:, None], self.prev_top[b, i][:, None], \
            self.prev_top[b, j][:, None]
        same_way = np.where(c > q, p > r, p < r)
        hit = same_way & (((c - p) % 12) == d[b, i, j][:, None])
        out = np.zeros((self.batch, self.P, self.n), bool)
        np.logical_or.at(out, (b, j), hit)
        return out

    # ---- following the chosen tokens ---------------------------------------------------
    def _offered_part(self, rows: np.ndarray, p: np.ndarray, is_new: np.ndarray
                      ) -> np.ndarray:
        """The part of each of ``rows``' notes (pitch indices ``p``): of the parts the
        last mask offered it to, the one whose recent centre lies nearest."""
        cand = np.where(is_new[:, None], self._allow_new[rows, :, p],
                        self._allow_hold[rows, :, p])
        # a token the mask did not offer (fed, not sampled): any part that sounded it,
        # else any part
        none = ~_any(cand, 1)
        if none.any():
            sounded = self.prev[rows[none], :, p[none]]
            cand[none] = np.where(_any(sounded, 1)[:, None], sounded, True)
        cost = np.abs(self.centre[rows] - p[:, None]) + np.where(cand, 0.0, np.inf)
        return np.argmin(cost, axis=1)

    def push(self, tokens: np.ndarray, parts: np.ndarray | None = None) -> None:
        """Follow ``tokens`` (one a row); ``parts``: each note's part where the caller
        knows it (a forced note's, as :meth:`forced_next` gives it), else the part the last
        :meth:`mask` offered it to."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if self.batch == 1:
            self._push_one(int(tokens[0]), None if parts is None else int(parts[0]))
            return
        n = self.n
        is_step = tokens == STEP
        self.part_of[:] = -1
        rows = np.nonzero(~is_step)[0]
        if rows.size:
            p = (tokens[rows] - 1) % n
            is_new = self.enc.kinds[tokens[rows]] == 1
            if parts is not None:
                j = np.asarray(parts)[rows]
            else:
                j = self._offered_part(rows, p, is_new)
            self.part_of[rows] = j
            self.cur[rows, j, p] = True
            self.cur_new[rows, j, p] = is_new
            self.count[rows, j] += 1
            self.below[rows] = p
            self.closed[rows] |= self._above[:, j].T
            first = self.cur_top[rows, j] < 0
            self.cur_top[rows[first], j[first]] = p[first]
            self.centre[rows, j] = 0.75 * self.centre[rows, j] + 0.25 * p
        srows = np.nonzero(is_step)[0]
        if srows.size:
            cur, new = self.cur[srows], self.cur_new[srows]
            self.held[srows] = np.where(cur, np.where(new, 1, self.held[srows] + 1), 0)
            self.prev[srows] = cur
            self.cur[srows] = False
            self.cur_new[srows] = False
            self.prev_top[srows] = self.cur_top[srows]
            self.cur_top[srows] = -1
            self.count[srows] = 0
            self.closed[srows] = False
            self.below[srows] = n
            self.steps[srows] += 1

    def _push_one(self, tok: int, part: int | None) -> None:
        """:meth:`push` for a batch of one, on scalars (a live step's tokens): the same
        state, value for value, in a third of the numpy calls."""
        n = self.n
        if tok == STEP:
            cur = self.cur[0]
            self.held[0] = np.where(cur, np.where(self.cur_new[0], 1, self.held[0] + 1), 0)
            self.prev[0] = cur
            cur[:] = False
            self.cur_new[0] = False
            self.prev_top[0] = self.cur_top[0]
            self.cur_top[0] = -1
            self.count[0] = 0
            self.closed[0] = False
            self.below[0] = n
            self.steps[0] += 1
            self.part_of[0] = -1
            return
        p = (tok - 1) % n
        is_new = bool(self.enc.kinds[tok] == 1)
        if part is None:
            cand = (self._allow_new if is_new else self._allow_hold)[0, :, p]
            if not cand.any():
                sounded = self.prev[0, :, p]
                cand = sounded if sounded.any() else np.ones(self.P, bool)
            part = int(np.argmin(np.abs(self.centre[0] - p) + np.where(cand, 0.0, np.inf)))
        self.part_of[0] = part
        self.cur[0, part, p] = True
        self.cur_new[0, part, p] = is_new
        self.count[0, part] += 1
        self.below[0] = p
        self.closed[0] |= self._above[:, part]
        if self.cur_top[0, part] < 0:
            self.cur_top[0, part] = p
        self.centre[0, part] = 0.75 * self.centre[0, part] + 0.25 * p


class ReferenceBeatParallels:
    """BeatParallels' narrowing and following, on a :class:`ReferenceGrammar` (``rule``:
    anything with ``grammar`` and ``done``)."""

    def __init__(self, rule, start_step: int, beat: int) -> None:
        self.rule, self.start, self.beat = rule, int(start_step), int(beat)
        g = rule.grammar
        self.n = g.n
        # each row's parts' highest notes on the last beat step closed (-1: silent)
        self.beat_top = np.full((g.batch, g.P), -1, np.int64)
        self.index = np.arange(g.n)
        forced = g.rules.forced
        self.forced_at = None if forced is None else (forced > 0).any(axis=1)  # [T, n]

    def _on_beat(self, steps: np.ndarray) -> np.ndarray:
        return (self.start + steps) % self.beat == 0

    def _bans(self, rows: np.ndarray) -> np.ndarray | None:
        """[rows, n]: the pitches each of ``rows`` may not start its next part with."""
        g = self.rule.grammar
        ci = g.cur_top[rows][:, :, None]  # [R, i, 1]: written this step
        qi = self.beat_top[rows][:, :, None]
        rj = self.beat_top[rows][:, None, :]  # [R, 1, j]
        d = (qi - rj) % 12
        open_j = (g.count[rows] == 0) & ~g.closed[rows]  # [R, j]
        valid = (open_j[:, None, :] & (ci >= 0) & (qi >= 0) & (rj >= 0) & (ci != qi)
                 & ((d == 0) | (d == 7)) & ~np.eye(g.P, dtype=bool)[None])
        if not valid.any():
            return None
        b, i, j = np.nonzero(valid)
        p = self.index[None, :]
        c, q, r = ci[b, i], qi[b, i], rj[b, 0, j][:, None]
        same_way = np.where(c > q, p > r, p < r)
        hit = same_way & (((c - p) % 12) == d[b, i, j][:, None])
        ban = np.zeros((len(rows), g.P, self.n), bool)
        np.logical_or.at(ban, (b, j), hit)
        # each pitch's likely part: the open part nearest it
        cost = np.abs(g.centre[rows][:, :, None] - p[None]) + \
            np.where(open_j, 0.0, np.inf)[:, :, None]  # [R, P, n]
        owner = np.argmin(cost, axis=1)  # [R, n]
        return np.take_along_axis(ban, owner[:, None, :], axis=1)[:, 0]

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        g = self.rule.grammar
        rows = np.nonzero(self._on_beat(g.steps) & ~self.rule.done & (g.count.sum(axis=1) > 0)
                          )[0]
        if not rows.size:
            return allowed
        bans = self._bans(rows)
        if bans is None:
            return allowed
        n = self.n
        if self.forced_at is not None:
            t = np.minimum(g.steps[rows], len(self.forced_at) - 1)
            bans &= ~self.forced_at[t]
        mask = np.array(allowed, copy=True)
        mask[rows, 1:1 + n] &= ~bans
        mask[rows, 1 + n:] &= ~bans
        # a row left with no note where it had one is not narrowed
        lost = allowed[rows, 1:].any(axis=1) & ~mask[rows, 1:].any(axis=1)
        mask[rows[lost]] = allowed[rows[lost]]
        return mask

    def update(self, tokens: np.ndarray) -> None:
        # heard after the grammar: a row that closed a beat step keeps its parts' tops
        g = self.rule.grammar
        rows = np.nonzero(np.asarray(tokens) == STEP)[0]
        if rows.size:
            closed = rows[self._on_beat(g.steps[rows] - 1)]
            self.beat_top[closed] = g.prev_top[closed]


class ReferenceFixedParallels:
    """The chosen part's new note keeps out of parallel fifths and octaves (unisons and
    compound intervals) with every forced part, those beneath it too, whose notes the
    grammar has not heard yet when the part writes (they come later in the step): the
    two a perfect interval apart (mod 12) before, both moving the same way into the same
    interval, from the step before, and on a beat from the beat before (through passing
    notes between them, as the beat-by-beat sonorities of bench/chorales.py hear it).
    Never a forced note's pitch, never where the part itself is forced; a row left with
    nothing to write is not narrowed."""

    name = "fixed-parallels"

    def __init__(self, context, rule, top: np.ndarray, target: int,
                 forced_at: np.ndarray, target_forced: np.ndarray,
                 beats: tuple[int, int] | None) -> None:
        self.context = context
        self.rule, self.target = rule, target
        # [T + 1, P]: each forced part's highest pitch index per step from the one
        # before the range (-1: silent)
        self.top = top
        self.forced_at = forced_at  # [T, n]: pitches some part is forced to sound
        self.target_forced = target_forced  # [T]: steps the part itself is forced
        self.beats = beats  # (the first step's place in its beat, steps a beat)
        n = context.model.encoding.pitches
        self.index = np.arange(n)
        self.hist = np.full((context.rows, len(top)), -1, np.int64)  # the part's tops
        # each row's bans, worked out once a step (they hold for the whole step: the
        # part's pitch before it and the forced parts' are fixed within it)
        rows = context.rows
        self._ban_step = np.full(rows, -1, np.int64)
        self._ban_new = np.zeros((rows, n), bool)
        self._ban_hold = np.zeros((rows, n), bool)
        self._banned = np.zeros(rows, bool)

    @classmethod
    def of(cls, model, rows: int, forced: np.ndarray, forced_part: np.ndarray, target: int,
           start_top: np.ndarray, beats: tuple[int, int] | None = None):
        """A maker of the constraint for :func:`sample_parts`' ``also``."""
        enc = model.encoding
        sounding = forced > 0  # [T, P, n]
        any_ = sounding.any(axis=2)
        highest = np.where(any_, enc.pitches - 1 - np.argmax(sounding[:, :, ::-1], axis=2), -1)
        first = np.where(np.asarray(start_top) >= 0, np.asarray(start_top) - enc.min_pitch, -1)
        top = np.concatenate([first[None], highest]).astype(np.int64)
        top[:, target] = -1
        forced_at = sounding.any(axis=1)
        target_forced = np.asarray(forced_part)[:, target].copy()

        def make(rule):
            return cls(SimpleNamespace(model=model, rows=rows), rule, top, target, forced_at,
                       target_forced, beats)
        return make

    def _parallel(self, q: np.ndarray, t: np.ndarray, back: int) -> np.ndarray:
        """[R, n]: for rows whose part sounded pitch index ``q`` [R] (-1: silent)
        ``back`` steps before their steps ``t`` [R], the pitches that move it in
        parallel with a forced part that moved meanwhile."""
        c, r = self.top[t + 1], self.top[t + 1 - back]  # [R, P]
        d = (q[:, None] - r) % 12
        moved = (c >= 0) & (r >= 0) & (c != r) & (q >= 0)[:, None] & ((d == 0) | (d == 7))
        out = np.zeros((len(q), len(self.index)), bool)
        if not moved.any():
            return out
        b, j = np.nonzero(moved)  # the few (row, forced part) pairs that matter
        p, qb, cc = self.index[None, :], q[b][:, None], c[b, j][:, None]
        hit = (((p - cc) % 12) == d[b, j][:, None]) & (p != qb) & \
            ((p > qb) == (cc > r[b, j][:, None]))
        np.logical_or.at(out, b, hit)
        return out

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        if self.rule.known is not None:  # every row's next token forced: nothing to ban
            return allowed
        grammar = self.rule.grammar
        first = grammar.count[:, self.target] == 0  # the part's first note of the step
        if not first.any():
            return allowed
        T = len(self.top) - 1
        t_all = np.minimum(grammar.steps, T - 1)
        live = first & ~self.target_forced[t_all] & ~self.rule.done
        new = np.nonzero(live & (self._ban_step != grammar.steps))[0]
        if new.size:
            self._bans(new, t_all[new])
            self._ban_step[new] = grammar.steps[new]
        rows = np.nonzero(live & self._banned)[0]
        if not rows.size:
            return allowed
        n = len(self.index)
        free = ~self.forced_at[t_all[rows]]  # never a forced note's pitch
        mask = np.array(allowed, copy=True)
        mask[rows, 1:1 + n] &= ~(self._ban_new[rows] & free)
        mask[rows, 1 + n:] &= ~(self._ban_hold[rows] & free)
        empty = ~mask.any(axis=1)
        mask[empty] = allowed[empty]
        return mask

    def _bans(self, rows: np.ndarray, t: np.ndarray) -> None:
        """The bans of ``rows`` at their steps ``t`` (new notes; held ones on a beat),
        for the whole step."""
        grammar = self.rule.grammar
        new = self._parallel(grammar.prev_top[rows, self.target], t, 1)
        hold = np.zeros_like(new)
        if self.beats is not None:
            phase, beat = self.beats
            on = ((phase + t) % beat == 0) & (t >= beat)
            if on.any():
                hold[on] = self._parallel(self.hist[rows[on], t[on] - beat], t[on], beat)
                new |= hold
        self._ban_new[rows], self._ban_hold[rows] = new, hold
        self._banned[rows] = new.any(axis=1)

    def update(self, tokens: np.ndarray) -> None:
        # heard after the grammar: a row that closed a step has its part's top there
        grammar = self.rule.grammar
        rows = np.nonzero(np.asarray(tokens) == STEP)[0]
        if rows.size:
            t = grammar.steps[rows] - 1
            ok = (t >= 0) & (t < self.hist.shape[1])
            self.hist[rows[ok], t[ok]] = grammar.prev_top[rows[ok], self.target]
