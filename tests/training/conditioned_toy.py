"""A toy conditioned model, test-only: a tiny Keras network that reads the token and one
conditioning input, ``style`` (0: the melody climbs the C major scale, 1: it falls),
exported to the contract's two ONNX graphs and a card that declares the input, and an
encoding that supplies the style's value at every step.

Nothing here is registered at import time: :func:`registered` adds the toy encoding to
the engine's registry for the length of a test, so the shipped lists never show it.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engine.encodings import ENCODINGS, MelodyEncoding, register
from engine.models.card import make_card, write_card
from engine.models.conditioning import Conditioned, conditioning_input

STYLE = conditioning_input("style", (1,), "float32",
                           "0: the tune climbs the scale, 1: it falls (a toy for the tests)")
SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


class StyledMelody(MelodyEncoding, Conditioned):
    """``melody-16th`` with a style: the card's ``style``, fed at every step, seed and
    continuation alike."""

    name = "toy-styled-melody"
    version = 1

    def __init__(self, min_pitch: int = 48, max_pitch: int = 83, steps_per_quarter: int = 4,
                 style: float = 0.0) -> None:
        super().__init__(min_pitch, max_pitch, steps_per_quarter)
        self.style = float(style)

    def card(self) -> dict:
        return {**super().card(), "style": self.style}

    @classmethod
    def from_card(cls, card: dict) -> "StyledMelody":
        enc = super().from_card(card)
        enc.style = float(card.get("style", 0.0))
        return enc

    def conditioning(self, step: int) -> dict[str, Any]:
        return {"style": self.style}


@contextmanager
def registered() -> Iterator[None]:
    """The toy encoding in the engine's registry, for the duration of the block."""
    key = (StyledMelody.name, StyledMelody.version)
    register(StyledMelody)
    try:
        yield
    finally:
        ENCODINGS.pop(key, None)


def training_data(encoding: MelodyEncoding, batch: int = 16, length: int = 24,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token windows of the scale, up for style 0 and down for style 1: (tokens [B, T],
    style [B, T, 1], next tokens [B, T])."""
    rng = np.random.default_rng(seed)
    notes = [encoding.note_on(p) for p in SCALE]
    tokens = np.empty((batch, length + 1), np.int32)
    style = np.empty((batch, length, 1), np.float32)
    for b in range(batch):
        down = b % 2
        start = int(rng.integers(len(notes)))
        step = -1 if down else 1
        tokens[b] = [notes[(start + step * t) % len(notes)] for t in range(length + 1)]
        style[b] = down
    return tokens[:, :-1], style, tokens[:, 1:]


def build(vocab: int):
    """The Keras network: ``(tokens [B, T], style [B, T, 1]) -> logits [B, T, vocab]``,
    stateless (each step reads its token and its style)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(5)
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    style = keras.Input(shape=(None, 1), dtype="float32", name="style")
    x = layers.Embedding(vocab, 8, name="embedding")(tokens)
    x = layers.Concatenate(name="with_style")([x, style])
    x = layers.Dense(32, activation="relu", name="hidden")(x)
    logits = layers.Dense(vocab, name="logits")(x)
    return keras.Model([tokens, style], logits, name="conditioned_toy")


def train(model, encoding: MelodyEncoding, steps: int = 150) -> float:
    """A few optimiser steps on :func:`training_data`; returns the last loss."""
    import keras

    keras.utils.set_random_seed(5)
    tokens, style, targets = training_data(encoding, batch=32)
    model.compile(optimizer=keras.optimizers.Adam(0.03),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit([tokens, style], targets, batch_size=32, epochs=steps, verbose=0)
    return float(history.history["loss"][-1])


def _rename(proto, inputs: list[str], outputs: list[str]):
    """The graph's inputs and outputs, by position, under the contract's names."""
    from training.export import rename_in_nodes

    graph = proto.graph
    initializers = {t.name for t in graph.initializer}
    values = [i for i in graph.input if i.name not in initializers] + list(graph.output)
    mapping = {v.name: new for v, new in zip(values, inputs + outputs)}
    for value in values:
        value.name = mapping[value.name]
    rename_in_nodes(graph, mapping)
    return proto


def export(model, encoding: MelodyEncoding, folder: Path, name: str) -> dict:
    """The step and sequence graphs through tf2onnx, and the card (make_card, with the
    ``style`` input declared); returns the card."""
    import tensorflow as tf
    import tf2onnx

    from training.export import OPSET, save_onnx

    embedding = model.get_layer("embedding")
    hidden, out = model.get_layer("hidden"), model.get_layer("logits")

    def logits_of(tokens, style):
        x = tf.concat([embedding(tokens), style], axis=-1)
        return out(hidden(x))

    step_sig = [tf.TensorSpec([None], tf.int32, name="token"),
                tf.TensorSpec([None, 1], tf.float32, name="style")]
    seq_sig = [tf.TensorSpec([None, None], tf.int32, name="tokens"),
               tf.TensorSpec([None, None, 1], tf.float32, name="style")]
    folder.mkdir(parents=True, exist_ok=True)
    files = {"step": f"{name}.onnx", "sequence": f"{name}.seq.onnx"}
    for role, sig, names in (("step", step_sig, ["token", "style"]),
                             ("sequence", seq_sig, ["tokens", "style"])):
        proto, _ = tf2onnx.convert.from_function(tf.function(logits_of, input_signature=sig),
                                                 input_signature=sig, opset=OPSET)
        save_onnx(_rename(proto, names, ["logits"]), folder / files[role])
    card = make_card(name, "conditioned-toy", "a toy: climbs or falls by its style", files,
                     folder, encoding, [], conditioning=[STYLE])
    write_card(card, folder / f"{name}.json")
    return card


def card_with_style(folder: Path, name: str, card: dict, style: float) -> Path:
    """A second card for the same graphs whose encoding supplies another style."""
    other = {**card, "name": name, "encoding": {**card["encoding"], "style": float(style)}}
    path = folder / f"{name}.json"
    write_card(other, path)
    return path
