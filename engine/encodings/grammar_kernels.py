"""The part grammar's compiled steps (numba), for every row of a batch in one call:
:func:`part_mask` is :meth:`PartGrammar.mask
<engine.encodings.polyphony.PartGrammar.mask>`, :func:`part_push` its ``push``, and
:func:`beat_bans` the narrowing of
:class:`engine.generation.constraints.parallels.BeatParallels`.

The three had been some sixty numpy calls over ``[batch, parts, pitches]`` arrays a
token, each costing more in numpy's fixed overhead than in arithmetic: about 0.09 ms a
token, as much as the step of a small network (bench/generation.py --only-polyphonic).
Here they walk the same rules row by row, part by part, pitch by pitch, and give the
same booleans and the same state (the same float operations, in the same order, for a
part's recent centre).  ``tests/engine/test_grammar_kernels.py`` holds them to the numpy
code they replaced (``tests/engine/grammar_reference.py``) on grammars of random rules.

Compiling takes a few seconds once; ``cache=True`` keeps the machine code on disk, so a
later process loads it in a fraction of a second (importing numba, a few tenths more).
:func:`warm` compiles or loads every kernel for the types the grammar passes: a
:class:`PartGrammar` calls it when it is made, so that no step (a live accompanist's
least of all) waits for it, and the generation service warms it in a background thread
when it starts (``engine.generation.service.serve``).
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

__all__ = ["part_mask", "part_push", "beat_bans", "forced_tokens", "fixed_bans", "warm",
           "warmed"]


@njit(cache=True, nogil=True)
def _parallel_pitches(cur, ref, j, rj, out):
    """Whether part ``j`` (its pitch ``rj`` at the reference: the step before, or the
    last beat) could move in parallel fifths or octaves with another part that moved
    from ``ref[i]`` to ``cur[i]`` (-1: none); if so ``out`` [pitches] holds the pitches
    that would, and only they (it is left as it was when none could)."""
    hit = False
    for i in range(len(cur)):
        ci, qi = cur[i], ref[i]
        if i == j or ci < 0 or qi < 0 or ci == qi:
            continue
        d = (qi - rj) % 12
        if d != 0 and d != 7:
            continue
        if not hit:
            out[:] = False
            hit = True
        up = ci > qi
        for p in range(len(out)):
            same_way = p > rj if up else p < rj
            if same_way and (ci - p) % 12 == d:
                out[p] = True
    return hit


@njit(cache=True, nogil=True)
def part_mask(allowed, steps, T, below, cur, prev, held, count, closed, cur_top, prev_top,
              must_t, attack_t, has_pcs, pcs_t, pc, has_forced, forced_t, fpart_t,
              no_hold_t, in_range, capacity, least, above, others, has_max_hold, max_hold,
              voice_leading, out, allow_new, allow_hold):
    """Fill ``out`` [batch, vocab] (the mask), ``allow_new`` and ``allow_hold`` [batch,
    parts, pitches] (the NEWs and HOLDs each part was offered) as
    :meth:`PartGrammar.mask` does.  ``allowed`` is [1, vocab] (every row's) or [batch,
    vocab]; the rules' tables (``must_t``, ``attack_t``, ``pcs_t``, ``forced_t``,
    ``fpart_t``, ``no_hold_t``) have a row per step, ``T`` the free one past them;
    ``pcs_t`` is read only with ``has_pcs``, the forced tables only with
    ``has_forced``, ``max_hold`` only with ``has_max_hold``."""
    B, P, n = cur.shape
    shared = allowed.shape[0] == 1
    fp = np.empty(P, np.bool_)
    pending = np.empty(P, np.bool_)
    mst = np.empty(P, np.bool_)
    lowest = np.empty(P, np.int64)
    need = np.empty(P, np.bool_)
    par = np.empty((P, n), np.bool_)
    for b in range(B):
        a = 0 if shared else b
        t = min(steps[b], T)
        lim = below[b]
        # the forced notes still to come: each part's, and the highest of all
        fhigh = -1
        for j in range(P):
            fp[j] = has_forced and fpart_t[t, j]
            pending[j] = False
        if has_forced:
            for p in range(n - 1, -1, -1):
                for j in range(P):
                    if forced_t[t, j, p] > 0 and not cur[b, j, p]:
                        pending[j] = True
                        if fhigh < 0:
                            fhigh = p
        # each part's notes before the voice leading
        for j in range(P):
            mst[j] = must_t[t, j] and not fp[j]
            ok = (not closed[b, j]) and count[b, j] < capacity[j] and not fp[j]
            att = attack_t[t, j]
            if att == -1 and mst[j]:
                sounding = False
                for p in range(n):
                    if prev[b, j, p]:
                        sounding = True
                        break
                if not sounding:  # a part that must sound with nothing to hold
                    att = 0
            no_hold = has_forced and no_hold_t[t, j]
            low = n
            for p in range(n):
                r = ok and in_range[j, p] and p < lim and p > fhigh
                if r and has_pcs:
                    r = pcs_t[t, j, pc[p]]
                new = r and att != -1 and allowed[a, 1 + p]
                hold = r and prev[b, j, p] and att != 1 and allowed[a, 1 + n + p] \
                    and not no_hold
                if hold and has_max_hold and held[b, j, p] >= max_hold:
                    hold = False
                allow_new[b, j, p] = new
                allow_hold[b, j, p] = hold
                if low == n and (new or hold):
                    low = p
            lowest[j] = low
        # no part starts its step in parallel fifths or octaves with a part already
        # written in it, unless it must sound and has no other way to
        if voice_leading:
            for j in range(P):
                if count[b, j] != 0:
                    continue
                pj = prev_top[b, j]
                if pj < 0:
                    continue
                if not _parallel_pitches(cur_top[b], prev_top[b], j, pj, par[j]):
                    continue
                keep = not mst[j]
                if not keep:
                    for p in range(n):
                        if (allow_new[b, j, p] and not par[j, p]) or allow_hold[b, j, p]:
                            keep = True
                            break
                if keep:
                    for p in range(n):
                        if par[j, p]:
                            allow_new[b, j, p] = False
        # the parts still owed notes
        any_need = False
        for j in range(P):
            can = False
            for p in range(n):
                if allow_new[b, j, p] or allow_hold[b, j, p]:
                    can = True
                    break
            c = count[b, j]
            need[j] = pending[j] or ((((mst[j] and c == 0) or (c > 0 and c < least[j]))
                                      and not closed[b, j]) and can)
            any_need = any_need or need[j]
        if any_need:
            for j in range(P):
                # a note of j closes the ordered parts above it: none may still be owed
                blocked = False
                for i in range(P):
                    if need[i] and above[i, j]:
                        blocked = True
                        break
                # room beneath for the other parts owed a note
                room = -1
                for k in range(P):
                    if others[k, j] and need[k] and not pending[k] and lowest[k] > room:
                        room = lowest[k]
                for p in range(n):
                    if blocked or p <= room:
                        allow_new[b, j, p] = False
                        allow_hold[b, j, p] = False
        # the highest forced note still to come is allowed, as given
        if fhigh >= 0:
            part = 0
            for j in range(P):
                if forced_t[t, j, fhigh] > 0 and not cur[b, j, fhigh]:
                    part = j
                    break
            kind = forced_t[t, part, fhigh]
            allow_new[b, part, fhigh] = kind == 1
            allow_hold[b, part, fhigh] = kind == 2
        any_note = False
        for p in range(n):
            nw = False
            hd = False
            for j in range(P):
                nw = nw or allow_new[b, j, p]
                hd = hd or allow_hold[b, j, p]
            out[b, 1 + p] = nw
            out[b, 1 + n + p] = hd
            any_note = any_note or nw or hd
        # STEP once nothing is owed (or nothing more can come)
        out[b, 0] = (not any_need) or (not any_note)


@njit(cache=True, nogil=True)
def part_push(tokens, has_parts, parts, kinds, allow_new, allow_hold, above, prev, cur,
              cur_new, held, count, closed, below, steps, cur_top, prev_top, centre,
              part_of):
    """Follow one token a row as :meth:`PartGrammar.push` does, the grammar's state
    changed in place: a note goes to ``parts[row]`` (with ``has_parts``), else to the
    part the last mask offered it to (``allow_new`` / ``allow_hold``) whose recent
    centre lies nearest (a token it did not offer: a part that sounded it, else any
    part); STEP closes the step."""
    B, P, n = cur.shape
    inf = np.inf
    for b in range(B):
        tok = tokens[b]
        if tok == 0:  # STEP
            for j in range(P):
                for p in range(n):
                    c = cur[b, j, p]
                    if c:
                        held[b, j, p] = 1 if cur_new[b, j, p] else held[b, j, p] + 1
                    else:
                        held[b, j, p] = 0
                    prev[b, j, p] = c
                    cur[b, j, p] = False
                    cur_new[b, j, p] = False
                prev_top[b, j] = cur_top[b, j]
                cur_top[b, j] = -1
                count[b, j] = 0
                closed[b, j] = False
            below[b] = n
            steps[b] += 1
            part_of[b] = -1
            continue
        p = (tok - 1) % n
        is_new = kinds[tok] == 1
        if has_parts:
            j = parts[b]
        else:
            offered = allow_new if is_new else allow_hold
            # the parts it may go to: those offered it, else those that sounded it,
            # else any
            which = 0
            for i in range(P):
                if offered[b, i, p]:
                    which = 1
                    break
            if which == 0:
                which = 3
                for i in range(P):
                    if prev[b, i, p]:
                        which = 2
                        break
            j = 0
            best = inf
            for i in range(P):
                if which == 1:
                    cand = offered[b, i, p]
                elif which == 2:
                    cand = prev[b, i, p]
                else:
                    cand = True
                cost = abs(centre[b, i] - p) + (0.0 if cand else inf)
                if i == 0 or cost < best:
                    j, best = i, cost
        part_of[b] = j
        cur[b, j, p] = True
        cur_new[b, j, p] = is_new
        count[b, j] += 1
        below[b] = p
        for i in range(P):
            if above[i, j]:
                closed[b, i] = True
        if cur_top[b, j] < 0:
            cur_top[b, j] = p
        centre[b, j] = 0.75 * centre[b, j] + 0.25 * p


@njit(cache=True, nogil=True)
def beat_bans(start, beat, done, cur_top, beat_top, count, closed, centre, has_forced,
              forced_at, steps, mask):
    """:class:`engine.generation.constraints.parallels.BeatParallels`' narrowing of
    ``mask`` [batch, vocab] (in place) for the rows on a beat (``start`` plus the row's
    ``steps`` a multiple of ``beat``), not ``done``, with a note written in the step: on
    each, the first note of an open
    part that would move in parallel fifths or octaves from the last beat with a part
    already written in the step is banned, as a NEW and a HOLD, in the open part
    nearest it (by recent centre), unless it is forced there (``forced_at`` [T, pitches]
    with ``has_forced``, read at the row's step, the last row past them) or the ban
    leaves a row that had a note with none.  Whether any row had a pair of parts to
    keep apart (the caller's mask left as it was when none had)."""
    B, P = cur_top.shape
    n = (mask.shape[1] - 1) // 2
    inf = np.inf
    ban = np.zeros((P, n), np.bool_)
    bans = np.empty(n, np.bool_)
    open_j = np.empty(P, np.bool_)
    hit = np.empty(P, np.bool_)  # the parts with pitches in ``ban`` for this row
    found = False
    for b in range(B):
        if (start + steps[b]) % beat != 0 or done[b]:
            continue
        written = 0
        for j in range(P):
            written += count[b, j]
        if written <= 0:
            continue
        for j in range(P):
            open_j[j] = count[b, j] == 0 and not closed[b, j]
        hit_any = False
        for j in range(P):
            rj = beat_top[b, j]
            hit[j] = open_j[j] and rj >= 0 and _parallel_pitches(cur_top[b], beat_top[b],
                                                                 j, rj, ban[j])
            hit_any = hit_any or hit[j]
        if not hit_any:
            continue
        found = True
        t = min(steps[b], forced_at.shape[0] - 1)
        had = False
        for q in range(1, 2 * n + 1):
            if mask[b, q]:
                had = True
                break
        left = False
        for p in range(n):
            # each pitch's likely part: the open part nearest it
            owner = 0
            best = inf
            for j in range(P):
                cost = abs(centre[b, j] - p) + (0.0 if open_j[j] else inf)
                if j == 0 or cost < best:
                    owner, best = j, cost
            bans[p] = hit[owner] and ban[owner, p] and not (has_forced and forced_at[t, p])
            if not bans[p] and (mask[b, 1 + p] or mask[b, 1 + n + p]):
                left = True
        if had and not left:
            continue  # a row left with no note where it had one is not narrowed
        for p in range(n):
            if bans[p]:
                mask[b, 1 + p] = False
                mask[b, 1 + n + p] = False
    return found


@njit(cache=True, nogil=True)
def forced_tokens(ahead, steps, T, count, has_fpart, fpart_t, below, capacity, closed,
                  has_done, done, token, part):
    """:meth:`PartGrammar.forced_next <engine.encodings.polyphony.PartGrammar.forced_next>`
    on its reading of the rules ahead (``ahead`` [T + 1, w, 2 + parts]): fills ``token``
    and ``part`` and says True when every row's next token is forced (a ``done`` row's:
    STEP, with ``has_done``), else False."""
    B, P = count.shape
    width = ahead.shape[1]
    forced = True
    for b in range(B):
        t = min(steps[b], T)
        w = 0
        if has_fpart:
            for j in range(P):
                if fpart_t[t, j]:
                    w += count[b, j]
        if w >= width:
            raise IndexError("more notes written in forced parts than were forced")
        if has_done and done[b]:
            token[b] = 0  # STEP
            part[b] = -1
            continue
        token[b] = ahead[t, w, 0]
        part[b] = ahead[t, w, 1]
        if token[b] < 0:
            forced = False
        # a part may write when it has a pitch of its range between the forced note
        # and the step's last note, and is neither closed nor full
        for j in range(P):
            if ahead[t, w, 2 + j] < below[b] and count[b, j] < capacity[j] \
                    and not closed[b, j]:
                forced = False
    return forced


@njit(cache=True, nogil=True)
def _fixed_parallel(top, q, t, back, out):
    """``out`` [pitches] |= the pitches that move a part from pitch index ``q`` (``back``
    steps before step ``t``) in parallel with a fixed part that moved meanwhile
    (``top`` [T + 1, parts]: each fixed part's highest pitch per step from the one before,
    -1 silent)."""
    if q < 0:
        return
    P = top.shape[1]
    n = out.shape[0]
    for j in range(P):
        c, r = top[t + 1, j], top[t + 1 - back, j]
        if c < 0 or r < 0 or c == r:
            continue
        d = (q - r) % 12
        if d != 0 and d != 7:
            continue
        for p in range(n):
            if (p - c) % 12 == d and p != q and (p > q) == (c > r):
                out[p] = True


@njit(cache=True, nogil=True)
def fixed_bans(target, steps, count, done, top, target_forced, forced_at, prev_top, hist,
               has_beats, phase, beat, ban_step, ban_new, ban_hold, banned, allowed, mask):
    """:class:`engine.generation.jobs.regenerate.FixedParallels`' narrowing of ``mask``
    (a copy of ``allowed``, changed in place): for each row whose part ``target`` has no
    note yet in its step, is not forced there and is not ``done``, its bans worked out
    once a step (``ban_step``: the step they were for; ``ban_new``, ``ban_hold``,
    ``banned``), from the step before and on a beat (``has_beats``: ``phase``, ``beat``)
    from the beat before (``hist``: the part's tops per step); never a forced note's
    pitch (``forced_at``), and a row left with nothing is not narrowed.  Whether any
    row was."""
    B = steps.shape[0]
    n = ban_new.shape[1]
    T = top.shape[0] - 1
    vocab = mask.shape[1]
    narrowed = False
    for b in range(B):
        if count[b, target] != 0 or done[b]:
            continue
        t = min(steps[b], T - 1)
        if target_forced[t]:
            continue
        if ban_step[b] != steps[b]:
            for p in range(n):
                ban_new[b, p] = False
                ban_hold[b, p] = False
            _fixed_parallel(top, prev_top[b, target], t, 1, ban_new[b])
            if has_beats and (phase + t) % beat == 0 and t >= beat:
                _fixed_parallel(top, hist[b, t - beat], t, beat, ban_hold[b])
                for p in range(n):
                    if ban_hold[b, p]:
                        ban_new[b, p] = True
            any_ban = False
            for p in range(n):
                if ban_new[b, p]:
                    any_ban = True
                    break
            banned[b] = any_ban
            ban_step[b] = steps[b]
        if not banned[b]:
            continue
        narrowed = True
        for p in range(n):
            if not forced_at[t, p]:
                if ban_new[b, p]:
                    mask[b, 1 + p] = False
                if ban_hold[b, p]:
                    mask[b, 1 + n + p] = False
        left = False
        for v in range(vocab):
            if mask[b, v]:
                left = True
                break
        if not left:
            for v in range(vocab):
                mask[b, v] = allowed[b, v]
    return narrowed


_warm_lock = threading.Lock()
_warmed = threading.Event()


def warm() -> None:
    """Compile (or load from the cache) every kernel for the types a grammar passes,
    on a tiny grammar; once a process."""
    if _warmed.is_set():
        return
    with _warm_lock:
        if _warmed.is_set():
            return
        B, P, n, T = 1, 2, 3, 1
        vocab = 1 + 2 * n
        z = np.zeros((B, P, n), np.bool_)
        i = np.zeros((B, P), np.int64)
        part_mask(np.ones((1, vocab), np.bool_), np.zeros(B, np.int64), T,
                  np.full(B, n, np.int64), z, z.copy(), np.zeros((B, P, n), np.int64), i,
                  np.zeros((B, P), np.bool_), i - 1, i - 1, np.zeros((T + 1, P), np.bool_),
                  np.zeros((T + 1, P), np.int8), False, np.ones((1, 1, 12), np.bool_),
                  np.zeros(n, np.int64), False, np.zeros((1, 1, 1), np.int8),
                  np.zeros((1, 1), np.bool_), np.zeros((1, 1), np.bool_),
                  np.ones((P, n), np.bool_), np.ones(P, np.int64), np.ones(P, np.int64),
                  np.zeros((P, P), np.bool_), np.zeros((P, P), np.bool_), False, 0, True,
                  np.empty((B, vocab), np.bool_), np.empty((B, P, n), np.bool_),
                  np.empty((B, P, n), np.bool_))
        b = np.zeros(B, np.int64)
        f = np.zeros((B, P), np.float64)
        for tokens, given in ((b + 1, False), (b + 1, True), (b, False)):
            part_push(tokens, given, b, np.array([0, 1, 1, 1, 2, 2, 2], np.int8), z, z, z[0],
                      z.copy(), z.copy(), z.copy(), np.zeros((B, P, n), np.int64), i.copy(),
                      np.zeros((B, P), np.bool_), np.full(B, n, np.int64), b.copy(),
                      i - 1, i - 1, f, b.copy())
        forced_tokens(np.zeros((T + 1, 2, 2 + P), np.int64), b, T, i, True,
                      np.zeros((T + 1, P), np.bool_), np.full(B, n, np.int64),
                      np.ones(P, np.int64), np.zeros((B, P), np.bool_), True,
                      np.zeros(B, np.bool_), b.copy(), b.copy())
        fixed_bans(0, b, i, np.zeros(B, np.bool_), np.zeros((T + 1, P), np.int64),
                   np.zeros(T, np.bool_), np.zeros((T, n), np.bool_), i - 1,
                   np.full((B, T + 1), -1, np.int64), True, 0, 1, b - 1,
                   np.zeros((B, n), np.bool_), np.zeros((B, n), np.bool_),
                   np.zeros(B, np.bool_), np.ones((B, vocab), np.bool_),
                   np.ones((B, vocab), np.bool_))
        beat_bans(0, 1, np.zeros(B, np.bool_), i - 1, i - 1, i + 1, np.zeros((B, P), np.bool_),
                  f, False, np.zeros((1, 1), np.bool_), b, np.ones((B, vocab), np.bool_))
        _warmed.set()


def warmed() -> bool:
    """Whether :func:`warm` has finished in this process."""
    return _warmed.is_set()

