"""Bits per note and next-token accuracy, from the exported ONNX sequence models.

Definition (docs/model-contract.md): over all tunes of a split, the sum of
``-log2 p(token)`` for every token after a tune's first, divided by the number of
those tokens that start a note (the encoding's ``onset_mask``: NOTE_ON for the
melody).  Accuracy is the share of those tokens that are the model's most likely next
token.  Neural models are scored with onnxruntime on the very
``.seq.onnx`` files the app loads, so the engine's ``score`` command reproduces them;
:func:`keras_bits_per_note` gives the same figures straight from a Keras model, for
choices made during training (fine-tuning, size sweeps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from engine.encodings import DEFAULT_ENCODING, Encoding


@dataclass
class Score:
    encoding: Encoding = DEFAULT_ENCODING  # whose onsets count as notes
    nll_bits: float = 0.0
    correct: int = 0
    tokens: int = 0
    notes: int = 0
    steps: int = 0  # grid steps, for an encoding that spends several tokens on one

    def add(self, log2p: np.ndarray, argmax: np.ndarray, targets: np.ndarray) -> None:
        self.nll_bits += float(-log2p.sum())
        self.correct += int((argmax == targets).sum())
        self.tokens += int(len(targets))
        self.notes += self.encoding.count_onsets(targets)
        if hasattr(self.encoding, "count_steps"):
            self.steps += self.encoding.count_steps(targets)

    def as_dict(self) -> dict:
        return {"bits_per_note": round(self.nll_bits / max(self.notes, 1), 4),
                "accuracy": round(self.correct / max(self.tokens, 1), 4),
                "bits_per_token": round(self.nll_bits / max(self.tokens, 1), 4),
                "tokens": self.tokens, "notes": self.notes,
                **({"steps": self.steps,
                    "bits_per_step": round(self.nll_bits / self.steps, 4)}
                   if self.steps else {})}


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def sequence_session(seq_path: str | Path, threads: int = 2):
    """An onnxruntime session for scoring with a ``.seq.onnx`` model."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(seq_path), opts, providers=["CPUExecutionProvider"])


def score_onnx(seq_path: str | Path, tunes: Sequence[np.ndarray], batch_tokens: int = 16384,
               threads: int = 2, encoding: Encoding = DEFAULT_ENCODING,
               context: int | None = None) -> dict:
    """Score tunes of ``encoding`` with a ``.seq.onnx`` model (batches of similar
    length, right-padded: the model is causal, so padding never changes the real
    steps).  ``context``: an attending model's reach (``engine.models.attention_context``
    of its card): a tune longer than a piece and its reach is scored alone, in pieces
    (``engine.models.logits_in_pieces``), as the app scores it."""
    from engine.models import logits_in_pieces

    sess = sequence_session(seq_path, threads)
    score = Score(encoding)
    tunes = [np.asarray(t, np.int64) for t in tunes if len(t) >= 2]
    if context is not None:
        def run(x: np.ndarray, _start: int) -> np.ndarray:
            return sess.run(["logits"], {"tokens": x})[0]

        alone = 2048  # an attending graph's cost goes by the square of a batch's width
        for t in tunes:
            if len(t) - 1 > alone:
                lp = log_softmax(logits_in_pieces(run, t[None, :-1].astype(np.int32),
                                                  context)[0])
                targets = t[1:]
                score.add(lp[np.arange(len(targets)), targets] / math.log(2), lp.argmax(-1),
                          targets)
        tunes = [t for t in tunes if len(t) - 1 <= alone]
    order = np.argsort([len(t) for t in tunes], kind="stable")
    i = 0
    while i < len(order):
        longest = len(tunes[order[min(len(order) - 1, i)]])
        n = max(1, batch_tokens // max(longest, 1))
        idx = order[i:i + n]
        width = max(len(tunes[k]) for k in idx)
        x = np.zeros((len(idx), width), np.int32)
        for r, k in enumerate(idx):
            x[r, : len(tunes[k])] = tunes[k]
        logits = sess.run(["logits"], {"tokens": x})[0]
        logp = log_softmax(logits)
        for r, k in enumerate(idx):
            t = tunes[k]
            lp = logp[r, : len(t) - 1]
            targets = t[1:]
            score.add(lp[np.arange(len(targets)), targets] / math.log(2), lp.argmax(-1), targets)
        i += len(idx)
    return score.as_dict()


def score_distributions(dist: Callable[[np.ndarray], np.ndarray],
                        tunes: Iterable[np.ndarray],
                        encoding: Encoding = DEFAULT_ENCODING) -> dict:
    """Score a model given as ``tune -> [len, vocab]`` probabilities of each token."""
    score = Score(encoding)
    for t in tunes:
        t = np.asarray(t, np.int64)
        if len(t) < 2:
            continue
        p = dist(t)[1:]
        targets = t[1:]
        score.add(np.log2(p[np.arange(len(targets)), targets]), p.argmax(-1), targets)
    return score.as_dict()


def keras_bits_per_note(model, tunes: Sequence[np.ndarray], batch_size: int = 32,
                        encoding: Encoding = DEFAULT_ENCODING) -> dict:
    """Bits per note and accuracy (docs/model-contract.md) straight from a Keras model:
    whole tunes, batched by length and right-padded (the models are causal)."""
    from training.train import padded_batches

    score = Score(encoding)
    longest = max((len(t) for t in tunes), default=2)
    for x, y, w in padded_batches(list(tunes), batch_size, longest, None):
        logp = log_softmax(np.asarray(model.predict_on_batch(x)))
        real = w > 0
        picked = np.take_along_axis(logp, y[..., None].astype(np.int64), axis=-1)[..., 0]
        score.add(picked[real] / np.log(2), logp.argmax(-1)[real], y[real])
    assert score.notes == sum(encoding.count_onsets(np.asarray(t[1:])) for t in tunes
                              if len(t) >= 2)
    return score.as_dict()
