"""The Transformer's numpy floor for bench/generation.py: one step of
training/architectures/transformer.py's arithmetic in numpy, on its Keras weights, with
the key/value cache kept the cheapest way numpy can keep it.

What one step does, per layer (as the ONNX step graph does, op for op in meaning):

* layer norm, the q/k/v projection (one ``[d, 3d]`` product), the new key and value
  written into the cache;
* the scores of the query against every cached key, plus the learned bias of each
  key's distance, a softmax over them, and the weighted sum of the values;
* the output projection and the residual; layer norm, the feed-forward (``[d, ff]``,
  exact GELU, ``[ff, d]``) and the residual;

then the final layer norm and the logits.

Why this is a fair floor, and a hard one:

* **The cache is a ring written in place.**  The new key and value go into slot
  ``t % window`` of arrays that are never copied, and the bias of each slot comes from
  a table made once from the weights (``bias[p][h, s]`` = the learned bias of distance
  ``(p - s) % window``), so the step moves nothing it does not read.  The ONNX step
  cannot do that within the model contract (docs/model-contract.md, "A Transformer's
  cache"): its states are fixed-shape arrays of delay 1, so it reads the cache from one
  buffer and writes it, shifted by a slot, into another; the floor does not pay that.
* **Before the window fills it attends to the filled slots only** (a slice), where the
  ONNX step scores every slot and gives the empty ones a bias of -1e9.  The bench times
  the full window, every step after the first ``window`` tokens; there both do the
  same attention work.
* **Constant folding done beforehand, as the exporter and onnxruntime do:** the
  query's ``1/sqrt(head_dim)`` and every layer norm's gain and shift are folded into
  the product that follows it (``(x̂ g + b) W + c = x̂ (g W) + (b W + c)``), so a norm
  is a centring and a scaling.
* **No framework, no sampling, no bookkeeping**: numpy ufuncs and ``matmul`` on float32
  arrays, one thread, as the LSTM's and the WaveNet's floors
  (bench/generation.py's ``NumpyStep``).
* numpy has no ``erf``; GELU's is Abramowitz and Stegun's 7.1.26 (error under 1.5e-7,
  far inside the 1e-4 the floor's logits are checked to): a few ufuncs on a
  ``[batch, ff]`` array where onnxruntime has one ``Erf`` kernel, the one place the
  floor does more ufunc calls than the graph does ops.

``python bench/transformer_floor.py --export-untrained DIR [--window N]`` writes an
untrained Transformer of the shipped sizes (card, both graphs, Keras weights) for
timing before a trained one exists: weights do not change the speed.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

EPSILON = 1e-5  # the layer norms' (training/architectures/transformer.py)

# Abramowitz & Stegun 7.1.26: erf(x) = 1 - (a1 t + ... + a5 t^5) exp(-x^2), t = 1/(1 + p x)
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_P_SQRT_HALF = _P / math.sqrt(2.0)


def gelu(h: np.ndarray) -> np.ndarray:
    """Exact GELU, ``0.5 h (1 + erf(h / sqrt 2))``, erf from A&S 7.1.26, in place on
    two temporaries: erf(|h|/√2) = 1 - poly(t) exp(-h²/2), so the result is
    ``0.5 (h + |h| erf(|h|/√2))``."""
    a = np.abs(h)
    t = a * _P_SQRT_HALF
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * _A[4]
    for coefficient in (_A[3], _A[2], _A[1], _A[0]):
        poly += coefficient
        poly *= t
    t = h * h
    t *= -0.5
    np.exp(t, out=t)
    poly *= t
    np.subtract(1.0, poly, out=poly)
    poly *= a
    poly += h
    poly *= 0.5
    return poly


def _centred(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """A layer norm without its gain and shift (folded into the next product); the
    means over the last axis as products with ``mean``, a column of ``1/d`` (one BLAS
    call is cheaper than numpy's ``mean``)."""
    x = x - x @ mean
    return x / np.sqrt((x * x) @ mean + EPSILON)


def _fold(norm, dense) -> tuple[np.ndarray, np.ndarray]:
    """``(x̂ g + b) @ W + c`` as ``x̂ @ (g W) + (b W + c)``."""
    (g, b), (w, c) = norm, dense
    return (g[:, None] * w).astype(np.float32), (b @ w + c).astype(np.float32)


class TransformerState:
    """The numpy step's cache: per layer a ring of keys ``[B, H, dh, W]`` (transposed,
    so the scores are one contiguous product) and of values ``[B, H, W, dh]``; ``t``
    tokens seen (the next one's key and value go to slot ``t % W``)."""

    __slots__ = ("keys", "values", "t")

    def __init__(self, keys: list[np.ndarray], values: list[np.ndarray], t: int) -> None:
        self.keys, self.values, self.t = keys, values, t


class TransformerNumpyStep:
    """The Transformer's step in numpy on its Keras weights (see the module's text)."""

    def __init__(self, keras_model, hp: dict) -> None:
        get = keras_model.get_layer

        def a(v):
            return np.asarray(v, dtype=np.float32)

        self.layers, self.heads = int(hp["layers"]), int(hp["heads"])
        self.d, self.window = int(hp["d_model"]), int(hp["window"])
        self.head_dim = self.d // self.heads
        w = self.window
        self.mean = np.full((self.d, 1), 1.0 / self.d, np.float32)
        self.embedding = a(get("embedding").embeddings)
        # slot s at ring position p holds the key of distance (p - s) % W
        distance = (np.arange(w)[:, None] - np.arange(w)[None, :]) % w  # [p, s]
        self.blocks = []
        for i in range(self.layers):
            att = get(f"attention_{i}")
            ln1 = (a(get(f"ln_attention_{i}").gamma), a(get(f"ln_attention_{i}").beta))
            wqkv, bqkv = _fold(ln1, (a(att.qkv), a(att.qkv_bias)))
            scale = np.ones(3 * self.d, np.float32)
            scale[:self.d] = 1.0 / math.sqrt(self.head_dim)
            # [p, H, 1, s]: the bias of every slot when the newest token is in slot p
            bias = np.ascontiguousarray(a(att.relative)[:, distance].transpose(1, 0, 2))
            ln2 = (a(get(f"ln_ff_{i}").gamma), a(get(f"ln_ff_{i}").beta))
            ff_in = _fold(ln2, (a(get(f"ff_in_{i}").kernel), a(get(f"ff_in_{i}").bias)))
            self.blocks.append(((wqkv * scale, bqkv * scale), bias[:, :, None, :],
                                (a(att.out), a(att.out_bias)), ff_in,
                                (a(get(f"ff_out_{i}").kernel), a(get(f"ff_out_{i}").bias))))
        ln = (a(get("ln_final").gamma), a(get("ln_final").beta))
        self.logits = _fold(ln, (a(get("logits").kernel), a(get("logits").bias)))

    def initial(self, batch: int) -> TransformerState:
        h, w, dh = self.heads, self.window, self.head_dim
        return TransformerState([np.zeros((batch, h, dh, w), np.float32)
                                 for _ in range(self.layers)],
                                [np.zeros((batch, h, w, dh), np.float32)
                                 for _ in range(self.layers)], 0)

    def from_graph_states(self, states: list[np.ndarray]) -> TransformerState:
        """The ring that holds what the ONNX step's states hold (``filled, k_0, v_0,
        k_1, ...``, ``[B, H, W, dh]`` oldest slot first, every row filled alike), so
        that the next numpy step and the next ONNX step attend to the same keys."""
        filled, caches = states[0], states[1:]
        w = self.window
        n = int(round(float(filled[0].sum())))
        state = self.initial(filled.shape[0])
        for i in range(self.layers):
            keys, values = caches[2 * i], caches[2 * i + 1]
            kt = state.keys[i].transpose(0, 1, 3, 2)  # a view: [B, H, W, dh]
            if n == w:  # full: the next step drops the oldest, so it is not kept
                kt[:, :, :w - 1] = keys[:, :, 1:]
                state.values[i][:, :, :w - 1] = values[:, :, 1:]
            else:
                kt[:, :, :n] = keys[:, :, w - n:]
                state.values[i][:, :, :n] = values[:, :, w - n:]
        state.t = 2 * w - 1 if n == w else n
        return state

    def step(self, token: np.ndarray, state: TransformerState) -> np.ndarray:
        """Logits ``[B, vocab]`` after ``token [B]``; the cache is written in place."""
        b, h, dh, d, mean = token.shape[0], self.heads, self.head_dim, self.d, self.mean
        slot = state.t % self.window
        n = min(state.t + 1, self.window)  # slots that hold a token after this write
        x = self.embedding[token]
        for i, ((wq, bq), bias, (wo, bo), (w1, b1), (w2, b2)) in enumerate(self.blocks):
            qkv = _centred(x, mean) @ wq + bq
            keys, values = state.keys[i], state.values[i]
            keys[:, :, :, slot] = qkv[:, d:2 * d].reshape(b, h, dh)
            values[:, :, slot] = qkv[:, 2 * d:].reshape(b, h, dh)
            scores = bias[slot]
            if n < self.window:
                keys, values, scores = keys[..., :n], values[:, :, :n], scores[..., :n]
            scores = np.matmul(qkv[:, :d].reshape(b, h, 1, dh), keys) + scores  # [B,H,1,n]
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            o = np.matmul(scores, values)  # [B, H, 1, dh], then divided by the weights' sum
            o /= scores.sum(axis=-1, keepdims=True)
            x = x + (o.reshape(b, d) @ wo + bo)
            x = x + (gelu(_centred(x, mean) @ w1 + b1) @ w2 + b2)
        state.t += 1
        return _centred(x, mean) @ self.logits[0] + self.logits[1]


def export_untrained(out: Path, window: int | None = None) -> None:
    """An untrained Transformer of the default sizes (``window`` if given) in ``out``."""
    import keras

    from training.export import export_model
    from training.models import build_model, default_hyperparameters

    keras.utils.set_random_seed(3)
    hp = default_hyperparameters("transformer")
    if window:
        hp["window"] = int(window)
    model = build_model(hp)
    # every weight moved off its start (zero biases, unit gains), as training moves
    # them, so that no constant folding drops an addition a trained model has
    rng = np.random.default_rng(3)
    model.set_weights([w + 0.05 * rng.standard_normal(w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    export_model(model, hp, out, "transformer", save_keras_weights=True,
                 description="an untrained Transformer (weights random), for timing")


if __name__ == "__main__":
    import argparse

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--export-untrained", metavar="DIR", required=True)
    ap.add_argument("--window", type=int)
    args = ap.parse_args()
    export_untrained(Path(args.export_untrained), args.window)
    print(f"wrote {args.export_untrained}/transformer.json")
