"""Stacked LSTMs: embedding (or one-hot), LSTM layers, an optional Dense relu, logits.

The step model's states are each layer's ``h_<i>`` and ``c_<i>`` (delay 1).  The step
maths is written out (the LSTM gates) instead of calling the layers, because the
exported graph must take and return the states by name.  The module's functions
(:func:`lstm_state_specs`, :func:`later_layers`, :func:`stack_step`,
:func:`layers_with_final_states`) serve every stacked-LSTM architecture (the drums' too).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from engine.models import StateSpec
from training.architectures.base import Architecture, Hyperparameters, final_tails, register


def lstm_state_specs(units: Sequence[int]) -> list[StateSpec]:
    """Each layer's ``h_<i>`` and ``c_<i>`` (delay 1), for LSTM layers of ``units``."""
    specs = []
    for i, n in enumerate(units):
        specs.append(StateSpec(f"h_{i}", f"h_{i}_out", (int(n),), 1))
        specs.append(StateSpec(f"c_{i}", f"c_{i}_out", (int(n),), 1))
    return specs


def later_layers(cells) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(w, b)`` of each LSTM cell after the first: its two products made one, ``w`` the
    kernel over the recurrent kernel, for ``[x, h] @ w + b``."""
    return [(np.concatenate([np.asarray(c.kernel), np.asarray(c.recurrent_kernel)], axis=0),
             np.asarray(c.bias)) for c in cells[1:]]


def stack_step(first_z: Callable, later: list, states: Sequence) -> tuple[Any, list]:
    """One step of stacked LSTM layers in TensorFlow: ``first_z(h)`` is the first layer's
    gate input given its ``h``, ``later`` its followers' :func:`later_layers`, ``states``
    each layer's ``h`` and ``c``.  Returns the top layer's ``h`` and the new states."""
    import tensorflow as tf

    new_states: list[Any] = []
    x = None
    for i in range(len(later) + 1):
        h, c = states[2 * i], states[2 * i + 1]
        if i == 0:
            z = first_z(h)
        else:
            w, b = later[i - 1]
            z = tf.matmul(tf.concat([x, h], axis=-1), tf.constant(w)) + tf.constant(b)
        zi, zf, zc, zo = tf.split(z, 4, axis=-1)  # Keras' gate order: i, f, c, o
        c = tf.sigmoid(zf) * c + tf.sigmoid(zi) * tf.tanh(zc)
        h = tf.sigmoid(zo) * tf.tanh(c)
        new_states += [h, c]
        x = h
    return x, new_states


def layers_with_final_states(model, x, units: Sequence[int]) -> tuple[Any, list]:
    """``x`` through twins of ``model``'s layers ``lstm_<i>`` (same weights) that also
    return their final ``h`` and ``c``: the last layer's output and those states."""
    from keras import layers

    finals: list[Any] = []
    for i, n in enumerate(units):
        twin = layers.LSTM(int(n), return_sequences=True, return_state=True,
                           name=f"lstm_{i}_with_state")
        x, h, c = twin(x)
        twin.set_weights(model.get_layer(f"lstm_{i}").get_weights())
        finals += [h, c]
    return x, finals


@register
class Lstm(Architecture):
    name = "lstm"
    title = "LSTM"
    description = "LSTM: remembers the whole tune so far; smooth, song-like continuations."
    defaults = {"embed_dim": 64, "units": [256, 256], "dense_hidden": 0, "dropout": 0.2}

    def size_text(self, hp: Hyperparameters) -> str:
        units = hp.get("units", [])
        size = f"{len(units)} x LSTM({', '.join(str(u) for u in units)})"
        if hp.get("dense_hidden"):
            size += f", Dense({hp['dense_hidden']})"
        if hp.get("dropout"):
            size += f", dropout {hp['dropout']}"
        return size

    def build(self, hp: Hyperparameters):
        """Embedding (or one-hot), stacked LSTMs, optional Dense relu, Dense logits."""
        import keras
        from keras import layers

        from training.architectures.layers import OneHot

        vocab = int(hp["vocab_size"])
        tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
        if int(hp.get("embed_dim", 0)) > 0:
            x = layers.Embedding(vocab, int(hp["embed_dim"]), name="embedding")(tokens)
        else:
            x = OneHot(vocab, name="one_hot")(tokens)
        dropout = float(hp.get("dropout", 0.0))
        for i, units in enumerate(hp["units"]):
            x = layers.LSTM(int(units), return_sequences=True, name=f"lstm_{i}")(x)
            if dropout > 0:
                x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
        if int(hp.get("dense_hidden", 0)) > 0:
            x = layers.Dense(int(hp["dense_hidden"]), activation="relu", name="hidden")(x)
        logits = layers.Dense(vocab, name="logits")(x)
        return keras.Model(tokens, logits, name=hp["architecture"].replace("-", "_"))

    def state_specs(self, hp: Hyperparameters) -> list[StateSpec]:
        return lstm_state_specs(hp["units"])

    def step(self, model, hp: Hyperparameters) -> Callable:
        """One step of the stacked LSTM, lean as the WaveNet's: the first layer's input
        projection is a table lookup (embedding @ kernel + bias, one row per token), and
        each later layer's two products are one, over ``[x, h]``.  The weights are made
        constants inside the traced function, so the graph holds them as initializers."""
        import tensorflow as tf

        n_layers = len(hp["units"])
        hidden = model.get_layer("hidden") if int(hp.get("dense_hidden", 0)) > 0 else None
        out = model.get_layer("logits")
        cells = [model.get_layer(f"lstm_{i}").cell for i in range(n_layers)]
        if int(hp.get("embed_dim", 0)) > 0:
            features = np.asarray(model.get_layer("embedding").embeddings)
        else:  # one-hot input: the features of token t are row t of the identity
            features = np.eye(int(hp["vocab_size"]), dtype=np.float32)
        first = features @ np.asarray(cells[0].kernel) + np.asarray(cells[0].bias)
        first_u = np.asarray(cells[0].recurrent_kernel)
        later = later_layers(cells)
        c_ = tf.constant

        def step(token, *states):
            def first_z(h):
                return tf.gather(c_(first.astype(np.float32)), token) + tf.matmul(h, c_(first_u))

            x, new_states = stack_step(first_z, later, states)
            if hidden is not None:
                x = tf.nn.relu(tf.matmul(x, hidden.kernel) + hidden.bias)
            logits = tf.matmul(x, out.kernel) + out.bias
            return (logits, *new_states)

        return step

    def sequence(self, model, hp: Hyperparameters) -> Callable:
        """The model again (same weights) with twin LSTM layers that also return their
        final h and c, which are the tails (delay 1)."""
        full = self._with_final_states(model, hp)

        def run(tokens):
            logits, *per_state = full(tokens, training=False)
            return (logits, *final_tails(per_state))

        return run

    @staticmethod
    def _with_final_states(model, hp: Hyperparameters):
        import keras

        tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
        feature = "embedding" if int(hp.get("embed_dim", 0)) > 0 else "one_hot"
        x, finals = layers_with_final_states(model, model.get_layer(feature)(tokens),
                                             hp["units"])
        if int(hp.get("dense_hidden", 0)) > 0:
            x = model.get_layer("hidden")(x)
        return keras.Model(tokens, [model.get_layer("logits")(x), *finals])
