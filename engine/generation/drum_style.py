"""A style prior for the drum models: how often each hit set falls on each place of
the bar in a style family's training grooves, mixed with the drum network wherever
drums are written in a named style (Add Drums).

The drum network hears a style id, but its style embedding learnt its 83 training
style files by heart (train 0.38 against validation 0.81 nats a step), so on a new
song the style it is told is barely audible.  The prior is the long-term, counted
knowledge of each family: for every style, for each of the bar's places (the drum
network's own position input: the step within the quarter, 12, and the quarter, 8,
so 96 places), the hit sets the family's grooves play there.  Its probabilities are
interpolated (Witten-Bell) from the style's place, to the style's step in the beat,
to every style's step in the beat, to a uniform floor, so a hit set the style never
played at a place keeps some probability.

It joins the network as a guidance ratio: the network's log-probabilities plus
``weight`` times log(p(token | style, place) / p(token | place)), the second counted
over every style's grooves (renormalised by the sampler).  At weight 1 this is Bayes'
rule's correction of a network that heard nothing of the style; it moves where each
piece falls towards the style's bar without the double counting of a plain product
with p(token | style, place) (which, REST being every place's likeliest token, left
the drums nearly silent off the beat).  The network keeps what follows what (the
groove within the bar, the other parts' onsets); the prior keeps where each piece
falls in the style's bar.  ``weight`` is fitted by ``python -m training drum-styles``
(which also writes the counts) on the validation grooves: the weight under which Add
Drums in each style lies nearest that style's grooves for the most styles
(training/drum_styles.py).

The counts are shipped as ``models/drums/styles.npz`` (plain integer arrays, read
without pickle) beside ``models/drums/styles.json`` (the format, the weight, the
figures it was fitted with).  A style no training groove was written in (and style 0,
"other") has no prior: the network alone, as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.encodings.drums import (KIT, LEVELS, POSITION_QUARTERS, POSITION_STEPS,
                                    STEPS_PER_QUARTER, STYLES, DrumEncoding)
from engine.errors import EncodingError, ModelError
from engine.resources import models_dir

FORMAT = "continuo-drum-styles"
VERSION = 1
#: the places of a bar the prior counts: the step within the quarter, then the quarter
PLACES = POSITION_STEPS * POSITION_QUARTERS

__all__ = ["FORMAT", "VERSION", "PLACES", "StylePrior", "places", "prior_paths",
           "load_prior", "style_prior", "count_places", "use_prior", "prior_in_use"]


def places(positions: np.ndarray) -> np.ndarray:
    """[n] place ids (quarter * 12 + step within the quarter) of the drum network's
    ``position`` inputs ([n, 20] one-hots, :func:`engine.encodings.drums.position_at`)."""
    p = np.asarray(positions)
    step = p[:, :POSITION_STEPS].argmax(axis=1)
    quarter = p[:, POSITION_STEPS:POSITION_STEPS + POSITION_QUARTERS].argmax(axis=1)
    return (quarter * STEPS_PER_QUARTER + step).astype(np.int64)


def count_places(tokens: np.ndarray, where: np.ndarray, vocab: int) -> np.ndarray:
    """[PLACES, vocab] counts of ``tokens`` at their places ``where`` (both [n])."""
    out = np.zeros((PLACES, vocab), np.int64)
    np.add.at(out, (np.asarray(where, np.int64), np.asarray(tokens, np.int64)), 1)
    return out


def _witten_bell(counts: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Rows of ``counts`` [..., vocab] interpolated with ``lower`` (same shape, rows
    summing to 1): each row keeps n / (n + kinds) of its own estimate."""
    n = counts.sum(axis=-1, keepdims=True).astype(np.float64)
    kinds = (counts > 0).sum(axis=-1, keepdims=True)
    keep = np.where(n > 0, n / np.maximum(n + kinds, 1), 0.0)
    own = counts / np.maximum(n, 1)
    return keep * own + (1 - keep) * lower


@dataclass
class StylePrior:
    """Per style id, the counts [PLACES, vocab] of a drum encoding's tokens (a style no
    groove was counted in has none), and the weight of its :meth:`guidance`."""

    counts: dict[int, np.ndarray]
    weight: float
    meta: dict
    _worked: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def vocab(self) -> int:
        return next(iter(self.counts.values())).shape[1] if self.counts else 0

    def log_probabilities(self, style: int) -> np.ndarray | None:
        """[PLACES, vocab] log p(token | style, place), or None when the style has no
        counts: the style's place, backing off to the style's step in the beat, to every
        style's step in the beat, to a uniform floor (worked out once per style)."""
        if style not in self.counts:
            return None
        if style not in self._worked:
            mine = self.counts[style]
            styled = self._by_step(mine, self._by_step(sum(self.counts.values())))
            self._worked[style] = self._at_places(mine, styled)
        return self._worked[style]

    def general_log_probabilities(self) -> np.ndarray:
        """[PLACES, vocab] log p(token | place) over every style's grooves: every style's
        place, backing off to every style's step in the beat, to a uniform floor."""
        if "general" not in self._worked:
            every = sum(self.counts.values())
            self._worked["general"] = self._at_places(every, self._by_step(every))
        return self._worked["general"]

    @staticmethod
    def _by_step(counts: np.ndarray, lower: np.ndarray | None = None) -> np.ndarray:
        """[12, vocab] probabilities: the counts' steps in the beat (summed over the
        quarters), interpolated with ``lower`` (None: the uniform floor)."""
        steps = np.arange(PLACES) % STEPS_PER_QUARTER
        by = np.stack([counts[steps == s].sum(axis=0) for s in range(STEPS_PER_QUARTER)])
        return _witten_bell(by, np.full(by.shape, 1.0 / by.shape[1]) if lower is None
                            else lower)

    @staticmethod
    def _at_places(counts: np.ndarray, by_step: np.ndarray) -> np.ndarray:
        """[PLACES, vocab] log-probabilities: the counts' places interpolated with
        ``by_step`` ([12, vocab] probabilities)."""
        return np.log(_witten_bell(counts, by_step[np.arange(PLACES) % STEPS_PER_QUARTER]))

    def guidance(self, style: int) -> np.ndarray | None:
        """[PLACES, vocab] log p(token | style, place) - log p(token | place): how much
        likelier the style makes each token at each place than the grooves of every
        style do (None: no counts for the style)."""
        lp = self.log_probabilities(style)
        return None if lp is None else lp - self.general_log_probabilities()

    def with_weight(self, weight: float) -> "StylePrior":
        """The same counts at another weight (what is worked out from them shared)."""
        return StylePrior(self.counts, float(weight), self.meta, self._worked)

    def logits(self, style: int) -> np.ndarray | None:
        """[PLACES, vocab]: what is added to the network's log-probabilities at each
        place (``weight`` times :meth:`guidance`), or None: the network alone."""
        g = self.guidance(style)
        if g is None or self.weight == 0:
            return None
        return self.weight * g

    # ---- files ------------------------------------------------------------------------
    def arrays(self, enc: DrumEncoding) -> dict[str, np.ndarray]:
        """The counts as plain arrays: a row (style, place, hit set, count) per count,
        and each hit set as the level + 1 it strikes every kit piece at."""
        rows = [(s, p, t, int(c[p, t])) for s, c in sorted(self.counts.items())
                for p, t in zip(*np.nonzero(c))]
        table = np.asarray(rows, np.int64).reshape(-1, 4)
        used = np.unique(table[:, 2]) if len(table) else np.zeros(0, np.int64)
        index = {int(t): i for i, t in enumerate(used)}
        table[:, 2] = [index[int(t)] for t in table[:, 2]]
        return {"counts": table.astype(np.int32),
                "combos": enc.piece_levels[used].astype(np.int8)}

    @classmethod
    def from_arrays(cls, arrays, enc: DrumEncoding, weight: float, meta: dict) -> "StylePrior":
        """The counts of ``arrays`` over ``enc``'s tokens; a hit set ``enc`` has no
        token for is left out."""
        combos = np.asarray(arrays["combos"], np.int64)
        if combos.ndim != 2 or combos.shape[1] != len(KIT):
            raise ModelError("the drum style prior's hit sets are not of this kit")
        token = np.full(len(combos), -1, np.int64)
        for i, row in enumerate(combos):
            hits = [(p, int(v) - 1) for p, v in enumerate(row) if v > 0]
            if any(not 0 <= v < len(LEVELS) for _, v in hits):
                raise ModelError("the drum style prior strikes a piece at a level the kit "
                                 "does not have")
            try:
                token[i] = enc.token(hits)
            except EncodingError:
                continue
        table = np.asarray(arrays["counts"], np.int64).reshape(-1, 4)
        s, p, c, n = table.T
        if ((s < 0) | (s >= len(STYLES)) | (p < 0) | (p >= PLACES) | (c < 0)
                | (c >= len(combos)) | (n < 0)).any():
            raise ModelError("the drum style prior counts a style, place or hit set that "
                             "does not exist")
        keep = token[c] >= 0
        counts: dict[int, np.ndarray] = {}
        for sid in np.unique(s[keep]):
            rows = keep & (s == sid)
            counts[int(sid)] = np.zeros((PLACES, enc.vocab_size), np.int64)
            np.add.at(counts[int(sid)], (p[rows], token[c[rows]]), n[rows])
        return cls(counts, float(weight), meta)

    def save(self, folder: Path, enc: DrumEncoding) -> tuple[Path, Path]:
        """``styles.json`` and ``styles.npz`` in ``folder``, written atomically."""
        from engine.formats import write_bytes_atomic
        from engine.models.ngram import npz_bytes

        folder.mkdir(parents=True, exist_ok=True)
        json_path, npz_path = prior_paths(folder)
        write_bytes_atomic(npz_path, npz_bytes(self.arrays(enc)))
        meta = {"format": FORMAT, "version": VERSION, "weight": self.weight,
                "styles": {STYLES[s]: int(c.sum()) for s, c in sorted(self.counts.items())},
                **{k: v for k, v in self.meta.items()
                   if k not in ("format", "version", "weight", "styles")}}
        write_bytes_atomic(json_path, (json.dumps(meta, indent=1) + "\n").encode("utf-8"))
        return json_path, npz_path


def prior_paths(folder: Path | None = None) -> tuple[Path, Path]:
    """The descriptor and the counts of the shipped prior (in ``models/drums``)."""
    folder = folder if folder is not None else models_dir() / "drums"
    return folder / "styles.json", folder / "styles.npz"


def load_prior(enc: DrumEncoding, folder: Path | None = None) -> StylePrior | None:
    """The prior in ``folder`` (default: the shipped one) over ``enc``'s tokens; None
    when there is none; a ModelError sentence when its files are damaged."""
    json_path, npz_path = prior_paths(folder)
    if not json_path.exists() or not npz_path.exists():
        return None
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or int(meta.get("version", 0)) != VERSION:
            raise ModelError(f"{json_path} is not a drum style prior of version {VERSION}")
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("counts", "combos")}
        return StylePrior.from_arrays(arrays, enc, float(meta["weight"]), meta)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"the drum style prior {npz_path} cannot be read: {e}") from None


@lru_cache(maxsize=8)
def _shipped(enc: DrumEncoding) -> StylePrior | None:
    return load_prior(enc)


_IN_USE: list[StylePrior] = []  # use_prior's prior, in place of the shipped one


def use_prior(prior: StylePrior | None) -> None:
    """Write drums with ``prior`` (over the drum model's encoding) in place of the
    shipped one, or the shipped one again (None): for fitting the weight and for the
    benches' sweeps."""
    _IN_USE[:] = [] if prior is None else [prior]


def prior_in_use(enc: DrumEncoding) -> StylePrior | None:
    """The prior drums in ``enc`` are written with: :func:`use_prior`'s, else the
    shipped one (None when there is none)."""
    return _IN_USE[0] if _IN_USE else _shipped(enc)


def style_prior(enc: DrumEncoding, style: int) -> np.ndarray | None:
    """[PLACES, vocab]: what the prior in use adds to the network's log-probabilities
    for ``style`` at each place (None: no prior for it; the network alone)."""
    prior = prior_in_use(enc)
    if prior is None or not 0 < int(style) < len(STYLES) or prior.vocab != enc.vocab_size:
        return None
    return prior.logits(int(style))
