"""A conditioned LSTM for drums (``drums-12th``): each step reads the token (the hit set
just played) and the step-about-to-be-written's conditioning inputs of the drum
encoding (engine/encodings/drums.py): its style id (an embedding), its position in the
bar (one-hot) and the other parts' onsets there.

Same graph shape as :mod:`training.architectures.lstm` (states ``h_<i>``, ``c_<i>``,
delay 1), plus the conditioning inputs, which the step and sequence functions take
after the states (step) or the tokens (sequence).  :mod:`training.drums` exports it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from engine.encodings.drums import ONSETS_INPUT, POSITION_INPUT, STYLES
from engine.models import StateSpec
from training.architectures.base import Architecture, Hyperparameters, final_tails, register
from training.architectures.lstm import (later_layers, layers_with_final_states,
                                         lstm_state_specs, stack_step)

POSITIONS = POSITION_INPUT.shape[0]
ONSETS = ONSETS_INPUT.shape[0]


@register
class DrumsLstm(Architecture):
    name = "drums-lstm"
    title = "drums LSTM"
    description = ("Drums LSTM: plays a groove in the style asked for, hearing where the "
                   "bar is and when the other parts play.")
    defaults = {"embed_dim": 48, "style_dim": 8, "units": [192], "dropout": 0.1}

    def size_text(self, hp: Hyperparameters) -> str:
        units = hp.get("units", [])
        return (f"{len(units)} x LSTM({', '.join(str(u) for u in units)}), style "
                f"embedding {hp.get('style_dim')}")

    def build(self, hp: Hyperparameters):
        """``(tokens [B, T], style [B, T, 1], position [B, T, 20], onsets [B, T, 2])``
        -> logits [B, T, vocab]."""
        import keras
        from keras import layers

        vocab = int(hp["vocab_size"])
        tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
        style = keras.Input(shape=(None, 1), dtype="int32", name="style")
        position = keras.Input(shape=(None, POSITIONS), dtype="float32", name="position")
        onsets = keras.Input(shape=(None, ONSETS), dtype="float32", name="onsets")
        x = layers.Embedding(vocab, int(hp["embed_dim"]), name="embedding")(tokens)
        s = layers.Embedding(len(STYLES), int(hp["style_dim"]), name="style_embedding")(style)
        s = layers.Reshape((-1, int(hp["style_dim"])), name="style_flat")(s)
        x = layers.Concatenate(name="features")([x, s, position, onsets])
        dropout = float(hp.get("dropout", 0.0))
        for i, units in enumerate(hp["units"]):
            x = layers.LSTM(int(units), return_sequences=True, name=f"lstm_{i}")(x)
            if dropout > 0:
                x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
        logits = layers.Dense(vocab, name="logits")(x)
        return keras.Model([tokens, style, position, onsets], logits,
                           name=hp["architecture"].replace("-", "_"))

    def state_specs(self, hp: Hyperparameters) -> list[StateSpec]:
        return lstm_state_specs(hp["units"])

    def step(self, model, hp: Hyperparameters) -> Callable:
        """``(token [B], *states, style [B, 1], position [B, 20], onsets [B, 2])`` ->
        ``(logits [B, V], *new_states)``; the token's and the style's share of the first
        layer's input projection are table lookups."""
        import tensorflow as tf

        n_layers = len(hp["units"])
        e, sd = int(hp["embed_dim"]), int(hp["style_dim"])
        out = model.get_layer("logits")
        cells = [model.get_layer(f"lstm_{i}").cell for i in range(n_layers)]
        kernel = np.asarray(cells[0].kernel)
        emb = np.asarray(model.get_layer("embedding").embeddings)
        semb = np.asarray(model.get_layer("style_embedding").embeddings)
        token_table = (emb @ kernel[:e] + np.asarray(cells[0].bias)).astype(np.float32)
        style_table = (semb @ kernel[e:e + sd]).astype(np.float32)
        cond_kernel = kernel[e + sd:].astype(np.float32)  # position then onsets
        first_u = np.asarray(cells[0].recurrent_kernel)
        later = later_layers(cells)
        c_ = tf.constant

        def step(token, *rest):
            states, (style, position, onsets) = rest[:2 * n_layers], rest[2 * n_layers:]

            def first_z(h):
                cond = tf.concat([position, onsets], axis=-1)
                return (tf.gather(c_(token_table), token)
                        + tf.gather(c_(style_table), style[:, 0])
                        + tf.matmul(cond, c_(cond_kernel)) + tf.matmul(h, c_(first_u)))

            x, new_states = stack_step(first_z, later, states)
            logits = tf.matmul(x, out.kernel) + out.bias
            return (logits, *new_states)

        return step

    def sequence(self, model, hp: Hyperparameters) -> Callable:
        """``(tokens, style, position, onsets)`` -> ``(logits, *tails)``: the model again
        with twin LSTM layers that also return their final h and c."""
        import keras

        tokens = keras.Input(shape=(None,), dtype="int32")
        style = keras.Input(shape=(None, 1), dtype="int32")
        position = keras.Input(shape=(None, POSITIONS), dtype="float32")
        onsets = keras.Input(shape=(None, ONSETS), dtype="float32")
        x = model.get_layer("embedding")(tokens)
        s = model.get_layer("style_flat")(model.get_layer("style_embedding")(style))
        x = model.get_layer("features")([x, s, position, onsets])
        x, finals = layers_with_final_states(model, x, hp["units"])
        full = keras.Model([tokens, style, position, onsets],
                           [model.get_layer("logits")(x), *finals])

        def run(tokens, style, position, onsets):
            logits, *per_state = full([tokens, style, position, onsets], training=False)
            return (logits, *final_tails(per_state))

        return run
