"""Keras builders for Continuo's note models, and their step functions.

Every model maps a batch of token sequences ``[batch, time]`` (int32) to logits
``[batch, time, vocab]`` where ``logits[:, t]`` predicts token ``t + 1`` (causal).  Each
architecture also has a *step function*: a plain TensorFlow function that reads the same
Keras weights and computes one new step from the newest token and a state, so that
generation costs one step of work per note (docs/model-contract.md).  The step maths is
written out here explicitly (LSTM gates; the "fast WaveNet" queues of Paine et al. 2016)
instead of calling the layers, because the exported ONNX graph must take and return the
states by name.

A model is fully described by its hyperparameter dict (JSON in the model card), so
``build_model(hp)`` + a ``.weights.h5`` file rebuild it exactly: no pickled objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf
from keras import layers

ARCHITECTURES = ("lstm", "wavenet", "seed-lstm")


@dataclass(frozen=True)
class StateSpec:
    """One recurrent state of a step model, as the model card lists it."""

    input: str
    output: str
    shape: tuple[int, ...]
    delay: int

    def card(self) -> dict:
        return {"input": self.input, "output": self.output, "shape": list(self.shape),
                "delay": self.delay}


# ---------------------------------------------------------------------------------------
# default sizes
# ---------------------------------------------------------------------------------------


def default_hyperparameters(architecture: str, vocab_size: int = 38) -> dict[str, Any]:
    """The sizes we ship, small enough that one generation step is cheap on a CPU."""
    if architecture == "lstm":
        return {"architecture": "lstm", "vocab_size": vocab_size, "embed_dim": 64,
                "units": [256, 256], "dense_hidden": 0, "dropout": 0.2}
    if architecture == "seed-lstm":
        # the seed notebooks: one-hot input, LSTM(128) x 2, Dense(256) relu, softmax
        return {"architecture": "seed-lstm", "vocab_size": vocab_size, "embed_dim": 0,
                "units": [128, 128], "dense_hidden": 256, "dropout": 0.0}
    if architecture == "wavenet":
        return {"architecture": "wavenet", "vocab_size": vocab_size, "embed_dim": 32,
                "residual_channels": 64, "skip_channels": 128,
                "dilations": [2 ** i for i in range(7)] * 2, "dropout": 0.0}
    raise ValueError(f"unknown architecture {architecture!r}; expected one of {ARCHITECTURES}")


def receptive_field(hp: dict[str, Any]) -> int | None:
    """Steps of context a WaveNet sees (the input conv adds 1); None for recurrent nets."""
    if hp["architecture"] != "wavenet":
        return None
    return 1 + 1 + sum(int(d) for d in hp["dilations"])


# ---------------------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------------------


class OneHot(layers.Layer):
    """Token ids -> one-hot vectors, as the seed notebooks fed their LSTM."""

    def __init__(self, depth: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.depth = depth

    def call(self, inputs):
        return keras.ops.one_hot(keras.ops.cast(inputs, "int32"), self.depth)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.depth,)

    def get_config(self) -> dict:
        return {**super().get_config(), "depth": self.depth}


# ---------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------


def build_lstm(hp: dict[str, Any]) -> keras.Model:
    """Embedding (or one-hot), stacked LSTMs, optional Dense relu, Dense logits."""
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


def build_wavenet(hp: dict[str, Any]) -> keras.Model:
    """A WaveNet (van den Oord et al. 2016) over tokens.

    Embedding -> causal conv (kernel 2) to the residual width -> for each dilation a
    gated residual block: one causal dilated conv (kernel 2) giving filter and gate
    halves, tanh(filter) * sigmoid(gate), a 1x1 conv back to the residual stream and a
    1x1 conv into the skip sum -> relu, 1x1, relu, 1x1 -> logits.
    """
    vocab = int(hp["vocab_size"])
    res, skip_ch = int(hp["residual_channels"]), int(hp["skip_channels"])
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(vocab, int(hp["embed_dim"]), name="embedding")(tokens)
    x = layers.Conv1D(res, 2, padding="causal", name="input_conv")(x)
    skips = []
    dropout = float(hp.get("dropout", 0.0))
    for i, d in enumerate(hp["dilations"]):
        z = layers.Conv1D(2 * res, 2, dilation_rate=int(d), padding="causal",
                          name=f"dilated_{i}")(x)
        gated = layers.Multiply(name=f"gate_{i}")([
            layers.Activation("tanh", name=f"tanh_{i}")(z[..., :res]),
            layers.Activation("sigmoid", name=f"sigmoid_{i}")(z[..., res:])])
        if dropout > 0 and hp.get("block_dropout", False):  # training only; no weights
            gated = layers.Dropout(dropout, name=f"block_dropout_{i}")(gated)
        skips.append(layers.Conv1D(skip_ch, 1, name=f"skip_{i}")(gated))
        if i < len(hp["dilations"]) - 1:  # the last block feeds only the skip sum
            x = layers.Add(name=f"residual_add_{i}")(
                [x, layers.Conv1D(res, 1, name=f"residual_{i}")(gated)])
    s = layers.Add(name="skip_sum")(skips) if len(skips) > 1 else skips[0]
    s = layers.Activation("relu", name="skip_relu")(s)
    if dropout > 0:
        s = layers.Dropout(dropout, name="dropout")(s)
    s = layers.Conv1D(skip_ch, 1, activation="relu", name="post_1")(s)
    logits = layers.Conv1D(vocab, 1, name="logits")(s)
    return keras.Model(tokens, logits, name="wavenet")


def build_model(hp: dict[str, Any]) -> keras.Model:
    """The full-sequence Keras model that ``hp`` (a card's hyperparameters) describes."""
    arch = hp["architecture"]
    if arch in ("lstm", "seed-lstm"):
        return build_lstm(hp)
    if arch == "wavenet":
        return build_wavenet(hp)
    raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")


def load_keras_model(card_path: str | Path) -> keras.Model:
    """Rebuild a shipped model's full-sequence Keras model from its card and weights.

    The card's ``keras`` entry names the ``.weights.h5`` file (relative to the card);
    the generation benchmark uses this to time the seed notebooks' way of generating
    (Keras predict over the window for each new note) on the very same weights.
    """
    card_path = Path(card_path)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    hp = card["hyperparameters"]
    model = build_model(hp)
    weights = card.get("keras", {}).get("weights")
    if not weights:
        raise FileNotFoundError(f"{card_path.name}: the card names no Keras weights file")
    model.load_weights(str(card_path.parent / weights))
    return model


def count_parameters(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.weights))


# ---------------------------------------------------------------------------------------
# step functions
# ---------------------------------------------------------------------------------------


def state_specs(hp: dict[str, Any]) -> list[StateSpec]:
    """The step model's states in the order the step function takes and returns them."""
    arch = hp["architecture"]
    if arch in ("lstm", "seed-lstm"):
        specs = []
        for i, units in enumerate(hp["units"]):
            specs.append(StateSpec(f"h_{i}", f"h_{i}_out", (int(units),), 1))
            specs.append(StateSpec(f"c_{i}", f"c_{i}_out", (int(units),), 1))
        return specs
    if arch == "wavenet":
        specs = [StateSpec("past_0", "present_0", (int(hp["embed_dim"]),), 1)]
        for i, d in enumerate(hp["dilations"]):
            specs.append(StateSpec(f"past_{i + 1}", f"present_{i + 1}",
                                   (int(hp["residual_channels"]),), int(d)))
        return specs
    raise ValueError(f"unknown architecture {arch!r}")


def _input_features(model: keras.Model, hp: dict[str, Any], token: tf.Tensor) -> tf.Tensor:
    vocab = int(hp["vocab_size"])
    if int(hp.get("embed_dim", 0)) > 0:
        table = model.get_layer("embedding").embeddings
        return tf.gather(tf.convert_to_tensor(table), token)
    return tf.one_hot(token, vocab, dtype=tf.float32)


def _lstm_step(model: keras.Model, hp: dict[str, Any]) -> Callable:
    """One step of the stacked LSTM, lean as the WaveNet's: the first layer's input
    projection is a table lookup (embedding @ kernel + bias, one row per token), and
    each later layer's two products are one, over ``[x, h]``."""
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
    later = [(np.concatenate([np.asarray(c.kernel), np.asarray(c.recurrent_kernel)], axis=0),
              np.asarray(c.bias)) for c in cells[1:]]
    c_ = tf.constant  # constants made inside the traced function (see _wavenet_step)

    def step(token, *states):
        new_states = []
        x = None
        for i in range(n_layers):
            h, c = states[2 * i], states[2 * i + 1]
            if i == 0:
                z = tf.gather(c_(first.astype(np.float32)), token) + tf.matmul(h, c_(first_u))
            else:
                w, b = later[i - 1]
                z = tf.matmul(tf.concat([x, h], axis=-1), c_(w)) + c_(b)
            zi, zf, zc, zo = tf.split(z, 4, axis=-1)  # Keras' gate order: i, f, c, o
            c = tf.sigmoid(zf) * c + tf.sigmoid(zi) * tf.tanh(zc)
            h = tf.sigmoid(zo) * tf.tanh(c)
            new_states += [h, c]
            x = h
        if hidden is not None:
            x = tf.nn.relu(tf.matmul(x, hidden.kernel) + hidden.bias)
        logits = tf.matmul(x, out.kernel) + out.bias
        return (logits, *new_states)

    return step


def _pointwise(layer, x: tf.Tensor) -> tf.Tensor:
    return tf.matmul(x, layer.kernel[0]) + layer.bias


def _fused_tap(layer) -> tuple[np.ndarray, np.ndarray]:
    """A causal kernel-2 Conv1D as one matrix: ``concat([past, now]) @ w + b``."""
    k = np.asarray(layer.kernel)  # [2, in, out]: tap 0 sees t - d, tap 1 sees t
    return np.concatenate([k[0], k[1]], axis=0), np.asarray(layer.bias)


def _wavenet_step(model: keras.Model, hp: dict[str, Any]) -> Callable:
    """One step of the WaveNet, with as few graph nodes as the arithmetic allows (each
    node costs onnxruntime about a microsecond, which adds up over 14 blocks): each
    dilated convolution is two matrix products over ``[past, now]``, the filter's and
    the gate's, each of which onnxruntime fuses with its activation, and the skip paths
    of all blocks are one product over the concatenated gated outputs at the end.
    The weights are made constants inside the traced function, so the exported graph
    holds them as initializers (captured tensors would become extra inputs)."""
    n = len(hp["dilations"])
    first = _fused_tap(model.get_layer("input_conv"))
    dilated = [_fused_tap(model.get_layer(f"dilated_{i}")) for i in range(n)]
    residual = [(np.asarray(model.get_layer(f"residual_{i}").kernel)[0],
                 np.asarray(model.get_layer(f"residual_{i}").bias)) for i in range(n - 1)]
    skip_w = np.concatenate(
        [np.asarray(model.get_layer(f"skip_{i}").kernel)[0] for i in range(n)], axis=0)
    skip_b = np.sum([np.asarray(model.get_layer(f"skip_{i}").bias) for i in range(n)], axis=0)
    c = tf.constant

    def tap(past, now, weights):
        return tf.matmul(tf.concat([past, now], axis=-1), c(weights[0])) + c(weights[1])

    res = int(hp["residual_channels"])
    # filter and gate as two products, each followed by its own activation: onnxruntime
    # fuses a product and its activation into one node, where one product, a split and
    # two activations were four
    halves = [((w[:, :res], b[:res]), (w[:, res:], b[res:])) for w, b in dilated]

    def step(token, *states):
        e = _input_features(model, hp, token)
        presents = [e]
        x = tap(states[0], e, first)
        gated_all = []
        for i in range(n):
            presents.append(x)
            pair = tf.concat([states[i + 1], x], axis=-1)
            (wf, bf), (wg, bg) = halves[i]
            gated = (tf.tanh(tf.matmul(pair, c(wf)) + c(bf))
                     * tf.sigmoid(tf.matmul(pair, c(wg)) + c(bg)))
            gated_all.append(gated)
            if i < n - 1:
                x = x + tf.matmul(gated, c(residual[i][0])) + c(residual[i][1])
        s = tf.nn.relu(tf.matmul(tf.concat(gated_all, axis=-1), c(skip_w)) + c(skip_b))
        s = tf.nn.relu(_pointwise(model.get_layer("post_1"), s))
        logits = _pointwise(model.get_layer("logits"), s)
        return (logits, *presents)

    return step


def step_function(model: keras.Model, hp: dict[str, Any]) -> tf.types.experimental.GenericFunction:
    """A tf.function ``(token [B], *states) -> (logits [B, V], *new_states)`` that
    shares ``model``'s weights; its input signature carries the contract's names."""
    arch = hp["architecture"]
    fn = _wavenet_step(model, hp) if arch == "wavenet" else _lstm_step(model, hp)
    signature = [tf.TensorSpec([None], tf.int32, name="token")]
    signature += [tf.TensorSpec([None, *s.shape], tf.float32, name=s.input)
                  for s in state_specs(hp)]
    return tf.function(fn, input_signature=signature)


def tail_output(spec: StateSpec) -> str:
    """The sequence graph's output holding ``spec``'s last ``delay`` values."""
    return f"{spec.output}_tail"


def _with_state_sequences(model: keras.Model, hp: dict[str, Any]) -> keras.Model:
    """``model`` (same weights) returning ``[logits, *per_state]``, one entry per state of
    :func:`state_specs`: the LSTM's final h and c ``[B, units]`` (its delay is 1), the
    WaveNet's input of each causal convolution over time ``[B, T, channels]``."""
    arch = hp["architecture"]
    if arch == "wavenet":
        taps = [model.get_layer("input_conv").input]
        taps += [model.get_layer(f"dilated_{i}").input for i in range(len(hp["dilations"]))]
        return keras.Model(model.inputs, [model.outputs[0], *taps])
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    feature = "embedding" if int(hp.get("embed_dim", 0)) > 0 else "one_hot"
    x = model.get_layer(feature)(tokens)
    finals = []
    for i, units in enumerate(hp["units"]):
        trained = model.get_layer(f"lstm_{i}")
        twin = layers.LSTM(int(units), return_sequences=True, return_state=True,
                           name=f"lstm_{i}_with_state")
        x, h, c = twin(x)
        twin.set_weights(trained.get_weights())
        finals += [h, c]
    if int(hp.get("dense_hidden", 0)) > 0:
        x = model.get_layer("hidden")(x)
    return keras.Model(tokens, [model.get_layer("logits")(x), *finals])


def sequence_function(model: keras.Model, hp: dict[str, Any]
                      ) -> tf.types.experimental.GenericFunction:
    """A tf.function ``tokens [B, T] -> (logits [B, T, V], *tails)`` in inference mode.

    ``tails`` has one entry per state of :func:`state_specs`: ``[B, delay, *shape]``, the
    values that the step model's output for that state takes at steps ``T - delay ..
    T - 1`` (zeros before step 0).  The engine primes a generation with one call of this
    graph instead of one step-model call per seed token, and gets the same states."""
    full = _with_state_sequences(model, hp)
    specs = state_specs(hp)
    recurrent = hp["architecture"] != "wavenet"

    def run(tokens):
        logits, *per_state = full(tokens, training=False)
        tails = []
        for spec, values in zip(specs, per_state):
            if recurrent:  # the final value; its delay is 1
                tails.append(values[:, None])
            else:  # the last `delay` steps, zero-padded like the causal convolution
                d = spec.delay
                tail = tf.pad(values, [[0, 0], [d, 0], [0, 0]])[:, -d:]
                # the reshape states [B, d, channels] in the graph, for the card check
                tails.append(tf.reshape(tail, [-1, d, *spec.shape]))
        return (logits, *tails)

    return tf.function(run, input_signature=[tf.TensorSpec([None, None], tf.int32,
                                                           name="tokens")])
