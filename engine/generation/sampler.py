"""Sampling one token per variation from a step's logits: key and range mask ->
temperature (0 = the most likely token) -> top-p (nucleus) -> one draw per row from an
explicit ``numpy.random.Generator`` (Gumbel-max without top-p, the inverse CDF with it),
so the same seed and settings always give the same tokens."""

from __future__ import annotations

import numpy as np

from engine.errors import GenerationError




def sample_tokens(logits: np.ndarray, allowed: np.ndarray, temperature: float, top_p: float,
                  rng: np.random.Generator) -> np.ndarray:
    """One token per row of ``logits`` [batch, vocab] among the ``allowed`` ones.

    Temperature 0 takes the most likely token (no random draw).  Otherwise a draw
    from the softmax at the temperature, restricted to the nucleus of the most likely
    tokens whose probabilities reach ``top_p`` (always at least one; a token as likely
    as the last one kept is kept too).  Raises GenerationError for logits that are NaN
    or infinite.
    """
    tokens = Sampler(temperature, top_p, rng)(logits, Sampler.mask(allowed))
    if tokens is None:
        raise GenerationError("the model computed invalid numbers (NaN or infinity)")
    return tokens


_BELOW_ONE = 1.0 - 2.0 ** -52  # x * this < x for every positive normal float x
_SMALLEST_NOISE = 1e-300


class Sampler:
    """:func:`sample_tokens` for a whole generation: the mask is made once (an additive
    one, 0 or -inf per token, see :meth:`mask`) and each step is a few numpy calls on a
    few rows of a few dozen tokens, where a call costs more than its arithmetic.
    Without top-p the draw is Gumbel-max; with it, the inverse CDF of the nucleus."""

    def __init__(self, temperature: float, top_p: float, rng: np.random.Generator) -> None:
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.rng = rng

    @staticmethod
    def mask(allowed: np.ndarray) -> np.ndarray:
        """0.0 where a token is allowed, -inf where not (float64, as ``allowed``)."""
        return np.where(allowed, 0.0, -np.inf)

    def __call__(self, logits: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """One token per row, or None when the logits hold NaN or infinity (or no
        allowed token has any probability)."""
        z = logits + mask  # float64; masked tokens -inf; a NaN anywhere stays NaN
        if self.temperature > 0.0 and self.top_p >= 1.0:
            return self._gumbel(z)
        top = z.max(axis=1, keepdims=True)
        if self.temperature == 0.0:
            return z.argmax(axis=1) if np.isfinite(top).all() else None
        # a NaN, an infinite top or no allowed token with a finite logit makes a NaN
        # here, which the check of the total below catches
        z -= top
        if self.temperature != 1.0:
            z /= self.temperature
        p = np.exp(z, out=z)  # unnormalised; masked tokens are exactly 0
        if self.top_p < 1.0:
            ordered = -np.sort(-p, axis=1)
            before = np.cumsum(ordered, axis=1) - ordered  # mass of the likelier tokens
            kept = (before < self.top_p * ordered.sum(axis=1, keepdims=True)).sum(axis=1)
            threshold = ordered[np.arange(len(p)), kept - 1]
            p = np.where(p >= threshold[:, None], p, 0.0)
        cdf = np.cumsum(p, axis=1, out=p)
        total = cdf[:, -1]  # at least 1: the likeliest allowed token has p = 1
        if not total.min() >= 1.0:  # NaN compares False
            return None
        # strictly below the total (shrunk by more than half an ulp), so the draw
        # lands on a token with mass
        u = self.rng.random(len(cdf))
        u *= total
        u *= _BELOW_ONE
        return (cdf <= u[:, None]).sum(axis=1)

    def skip(self, shape: tuple[int, int]) -> None:
        """Draw from the generator what a call on logits of ``shape`` draws, for a step
        whose tokens are known beforehand (a part's forced notes), so that every later
        step draws what it would have."""
        if self.temperature > 0.0:
            if self.top_p >= 1.0:
                self.rng.standard_exponential(shape)
            else:
                self.rng.random(shape[0])

    def _gumbel(self, z: np.ndarray) -> np.ndarray | None:
        """The Gumbel-max draw, without top-p: ``argmax(z / T - log E)`` with ``E``
        standard exponential picks token i with probability ``softmax(z / T)_i``
        exactly (the exponential race), in fewer numpy calls than the inverse CDF."""
        if self.temperature != 1.0:
            z /= self.temperature
        if not np.isfinite(z.max(axis=1)).all():  # NaN, +inf, or nothing allowed
            return None
        noise = self.rng.standard_exponential(z.shape)
        # E = 0 would make -log E infinite and a masked token's key NaN
        np.maximum(noise, _SMALLEST_NOISE, out=noise)
        z -= np.log(noise, out=noise)
        return z.argmax(axis=1)

    def ahead(self, steps: int, rows: int, vocab: int,
              alone: bool = True) -> "GumbelRun | None":
        """This sampler's Gumbel-max draws for ``steps`` steps of ``[rows, vocab]`` logits
        in a row (:class:`GumbelRun`), the noise drawn ahead in blocks where nothing else
        draws from its generator meanwhile (``alone``), else step by step; None when it
        does not draw by Gumbel-max (temperature 0, or top-p below 1)."""
        if self.temperature > 0.0 and self.top_p >= 1.0:
            return GumbelRun(self.rng, self.temperature, steps, rows, vocab,
                             ahead=AHEAD_NUMBERS if alone else 0)
        return None


#: the most noise a GumbelRun draws at once, in numbers (1 MiB of float64)
AHEAD_NUMBERS = 1 << 17


class GumbelRun:
    """:meth:`Sampler._gumbel` for a run of ``steps`` steps of ``[rows, vocab]`` logits,
    the same tokens from the same generator: the exponential noise of many steps is
    drawn in one call (``standard_exponential((n, rows, vocab))`` gives the numbers that
    ``n`` calls of ``(rows, vocab)`` give one after another) and its logarithm taken in
    one, so a step is a division by the temperature, a subtraction and an argmax.  Never
    more is drawn than the run's steps, so the generator ends where step-by-step draws
    would leave it; but it must draw nothing else between the steps of a block (``ahead``:
    the most numbers a block holds, 0 for a step's alone).  Each call takes a float64
    array of the step's logits (the mask added) that it may write over."""

    def __init__(self, rng: np.random.Generator, temperature: float, steps: int, rows: int,
                 vocab: int, ahead: int = AHEAD_NUMBERS) -> None:
        self.rng = rng
        self.temperature = float(temperature)
        self.steps = int(steps)
        self.left = int(steps)  # steps whose noise is not drawn yet
        self.shape = (int(rows), int(vocab))
        self.block_steps = max(1, int(ahead) // max(1, rows * vocab))
        self._rows = np.arange(rows)
        self._block: np.ndarray | None = None
        self._next = 0

    def _log_noise(self) -> np.ndarray:
        """log E (E standard exponential, at least _SMALLEST_NOISE) for the next step."""
        block = self._block
        if block is None or self._next == len(block):
            n = min(self.block_steps, self.left)
            if n <= 0:
                raise GenerationError(f"a run of Gumbel draws was asked for more than its "
                                      f"{self.steps} steps")
            block = self.rng.standard_exponential((n, *self.shape))
            np.maximum(block, _SMALLEST_NOISE, out=block)
            np.log(block, out=block)
            self._block, self._next = block, 0
            self.left -= n
        self._next += 1
        return block[self._next - 1]

    def __call__(self, z: np.ndarray) -> np.ndarray | None:
        """One token per row of ``z`` (float64 ``[rows, vocab]``, overwritten), or None
        when it holds NaN or infinity where :meth:`Sampler._gumbel` returns None (a NaN
        anywhere in a row, a top of +inf, or no finite logit)."""
        if self.temperature != 1.0:
            z /= self.temperature
        z -= self._log_noise()
        tokens = z.argmax(axis=1)
        # the key argmax chose is finite exactly when the row's largest logit was (the
        # noise is finite; argmax takes a NaN first, then +inf; a row of -inf gives -inf)
        if not np.isfinite(z[self._rows, tokens]).all():
            return None
        return tokens


def token_log_probs(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """``[rows]``: the log-probability of each row's token under its logits."""
    z = np.asarray(logits, dtype=np.float64)
    top = z.max(axis=1)
    return z[np.arange(len(z)), tokens] - top - np.log(np.exp(z - top[:, None]).sum(axis=1))
