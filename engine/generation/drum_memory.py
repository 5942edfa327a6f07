"""The motif memory for a drum model: the melody models' short-term model of the piece
(:class:`engine.generation.memory.MemoryMixer`, an online n-gram fed the seed's drums and
then every step drawn) over the ``drums-12th`` tokens, one a grid step, mixed with the
drum network at every step of a drum job (drums continued, Add Drums, a fill) where
``settings.memory`` is on.

Drums repeat bar after bar, so the memory's contexts are keyed by the step's place in
the bar: the card's ``phase_period`` (chosen on the validation grooves by
``python -m training drum-memory-sweep``) narrowed to the song's bars by
:func:`bar_period`, and the first bar line on phase 0.  A fill's memory hears the drums
after the gap too.  The repeat control scales its share by a table of its own
(:data:`engine.generation.mixers.drum_controls.MEMORY_REPEAT`).  Where the seed's drums end in silence as long as the
memory's longest context (a song's ending), the memory hears the groove before it apart
from what follows, so that it does not keep the drums silent.  With the memory off
nothing here is built, so the drums are byte for byte the network's.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

from engine.encodings.drums import REST
from engine.generation.memory import MemoryMixer, mixing_for
from engine.generation.mixers.drum_controls import memory_share

__all__ = ["bar_period", "drum_memory"]


def bar_period(period: int, bars: Sequence[int], bar_steps: int) -> int:
    """The largest divisor of ``period`` that divides every bar's length in grid steps
    (``bars``: the bar lines' steps, ``bar_steps``: the last bar's length), so that a
    figure any number of bars later falls on the same phase."""
    out = math.gcd(int(period), max(1, int(bar_steps)))
    for a, b in zip(bars, bars[1:]):
        out = math.gcd(out, int(b) - int(a))
    return max(1, out)


def drum_memory(model, settings, rows: int, prime: Sequence[int], start: int, steps: int,
                bars: Sequence[int], bar_steps: int, heard: Sequence[int] = (),
                heard_step: int | None = None) -> MemoryMixer | None:
    """The memory of ``rows`` rows that has heard the seed's drums ``prime`` (ending at
    grid step ``start``, where the first drawn token falls) and ``heard`` (the drums
    after a fill's gap, from ``heard_step``); room for ``steps`` new tokens.  None when
    the settings turn it off or no drum has been heard (Add Drums, a silent seed): a
    memory that has heard only rests, fed its own rests, keeps the drums silent."""
    if not getattr(settings, "memory", False) or \
            not any(t != REST for t in list(prime) + list(heard)):
        return None  # off; or no drums heard (Add Drums): a memory of rests stays silent
    mixing = mixing_for(model.name)
    period = bar_period(mixing.phase_period, bars, bar_steps)
    if period != mixing.phase_period:
        mixing = replace(mixing, phase_period=period)
    origin = int(bars[0]) if len(bars) else 0  # phase 0 on a bar line
    share = memory_share(settings)
    prime, heard = list(prime), list(heard)
    quiet = _trailing_rests(prime)
    if not heard and quiet >= mixing.max_order:
        # the seed's drums stopped (a song's ending): the memory hears the groove before
        # the silence (if any) apart, else its longest contexts, all rests, would keep
        # the drums silent
        heard, heard_step = prime[:-quiet], start - len(prime)
        prime = []
    return MemoryMixer(model.encoding.vocab_size, rows, prime, mixing,
                       heard=heard, steps=steps, start_step=start - origin,
                       heard_step=None if heard_step is None else heard_step - origin,
                       share=share)


def _trailing_rests(tokens: Sequence[int]) -> int:
    n = 0
    for t in reversed(tokens):
        if t != REST:
            break
        n += 1
    return n
