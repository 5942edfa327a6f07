"""A causal Transformer decoder over tokens, with a learned relative-position bias, stepped
with a bounded key/value cache.

Embedding -> ``layers`` pre-norm blocks (layer norm, multi-head self-attention, residual;
layer norm, GELU feed-forward, residual) -> layer norm -> logits.  There is no absolute
position: each head adds a learned bias for every distance ``0 .. window - 1`` between
the query and the key (Shaw et al. 2018's relative position, as a scalar per head and
distance like T5's; initialised as ALiBi's slopes, Press et al. 2022, so a fresh model
starts by listening near and learns where to look: a bar back, two bars back), and
attends to the last ``window`` tokens only.  A key further back gets no weight, in
training, scoring and stepping alike; as each layer's keys already saw ``window - 1``
tokens further back, the model's receptive field is ``layers * (window - 1) + 1``.

The step model's states (docs/model-contract.md, each of delay 1) are the cache:

* ``k_<i>``, ``v_<i>``: layer ``i``'s keys and values of the last ``window`` tokens,
  ``[heads, window, head_dim]``, oldest first; the step shifts them by one slot and
  writes the new token's key and value into the last slot (the newest).
* ``filled``: ``[window]``, 1 where a slot holds a token, 0 where it is still empty (the
  first ``window - 1`` steps of a tune); shifted the same way.  Empty slots get a bias
  of -1e9, so they get no weight, exactly like the keys the sequence graph masks.

The sequence graph masks the same window and gives each state's tail (the last
``window`` keys and values, zeros before the first token), so the engine primes in one
call as for the other architectures.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from engine.models import StateSpec
from training.architectures.base import Architecture, Hyperparameters, register

MASKED = -1e9  # the bias of a key a query may not see: exp() of it is exactly 0
EPSILON = 1e-5  # the layer norms'


def alibi_slopes(heads: int) -> np.ndarray:
    """ALiBi's geometric slopes (Press et al. 2022): 2^(-8 h / heads), h = 1 .. heads."""
    return np.array([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)], np.float32)


def _attention_layer_class():
    """The Keras layer, made on first use (Keras is imported when a model is built)."""
    import keras
    from keras import ops

    class RelativeAttention(keras.layers.Layer):
        """Causal multi-head self-attention over a window of ``window`` tokens, with a
        learned bias per head and distance.  ``x [B, T, d] -> [B, T, d]``."""

        def __init__(self, d_model: int, heads: int, window: int, **kwargs) -> None:
            super().__init__(**kwargs)
            self.d_model, self.heads, self.window = d_model, heads, window

        def build(self, input_shape):
            d, h, w = self.d_model, self.heads, self.window
            init = keras.initializers.GlorotUniform()
            self.qkv = self.add_weight(name="qkv", shape=(d, 3 * d), initializer=init)
            self.qkv_bias = self.add_weight(name="qkv_bias", shape=(3 * d,),
                                            initializer="zeros")
            self.out = self.add_weight(name="out", shape=(d, d), initializer=init)
            self.out_bias = self.add_weight(name="out_bias", shape=(d,), initializer="zeros")
            slopes = alibi_slopes(h)[:, None] * np.arange(w, dtype=np.float32)[None, :]
            self.relative = self.add_weight(
                name="relative", shape=(h, w),
                initializer=keras.initializers.Constant(-slopes))

        def call(self, x):
            b, t = ops.shape(x)[0], ops.shape(x)[1]
            h, dh = self.heads, self.d_model // self.heads
            qkv = ops.matmul(x, self.qkv) + self.qkv_bias
            q, k, v = (ops.transpose(ops.reshape(z, (b, t, h, dh)), (0, 2, 1, 3))
                       for z in ops.split(qkv, 3, axis=-1))
            scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(dh)
            distance = ops.arange(t)[:, None] - ops.arange(t)[None, :]
            seen = ops.logical_and(distance >= 0, distance < self.window)
            bias = ops.take(self.relative, ops.clip(distance, 0, self.window - 1), axis=1)
            scores = scores + ops.where(seen[None], bias, MASKED)[None]
            o = ops.matmul(ops.softmax(scores, axis=-1), v)
            o = ops.reshape(ops.transpose(o, (0, 2, 1, 3)), (b, t, self.d_model))
            return ops.matmul(o, self.out) + self.out_bias

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self) -> dict:
            return {**super().get_config(), "d_model": self.d_model, "heads": self.heads,
                    "window": self.window}

    return RelativeAttention


def _weights(model, hp: Hyperparameters) -> dict:
    """Every weight the step and sequence graphs need, as float32 numpy arrays (made
    constants in the traced functions, so the graphs hold them as initializers)."""
    def a(v):
        return np.asarray(v, dtype=np.float32)

    get = model.get_layer
    blocks = []
    for i in range(int(hp["layers"])):
        att = get(f"attention_{i}")
        blocks.append({
            "ln1": (a(get(f"ln_attention_{i}").gamma), a(get(f"ln_attention_{i}").beta)),
            "qkv": (a(att.qkv), a(att.qkv_bias)), "out": (a(att.out), a(att.out_bias)),
            "relative": a(att.relative),
            "ln2": (a(get(f"ln_ff_{i}").gamma), a(get(f"ln_ff_{i}").beta)),
            "ff_in": (a(get(f"ff_in_{i}").kernel), a(get(f"ff_in_{i}").bias)),
            "ff_out": (a(get(f"ff_out_{i}").kernel), a(get(f"ff_out_{i}").bias))})
    return {"embedding": a(get("embedding").embeddings), "blocks": blocks,
            "ln": (a(get("ln_final").gamma), a(get("ln_final").beta)),
            "logits": (a(get("logits").kernel), a(get("logits").bias))}


def _layer_norm(x, gamma_beta):
    """Written the way onnxruntime's layer-norm fusion recognises (mean, centre, ``Pow``
    2, mean, ``Sqrt``, ``Div``, gain, shift): each norm of the exported graphs runs as
    one LayerNormalization kernel instead of eleven ops (``tf.nn.moments`` and
    ``rsqrt`` are not recognised): the step of a model of the default sizes at window
    128 took 46.2 ms of CPU per 256 steps at batch 4 instead of 53.1 (13% less)."""
    import tensorflow as tf

    centred = x - tf.reduce_mean(x, axis=-1, keepdims=True)
    var = tf.reduce_mean(tf.pow(centred, 2.0), axis=-1, keepdims=True)
    return centred / tf.sqrt(var + EPSILON) * gamma_beta[0] + gamma_beta[1]


def _dense(x, kernel_bias):
    import tensorflow as tf

    return tf.matmul(x, tf.constant(kernel_bias[0])) + tf.constant(kernel_bias[1])


def _feed_forward(x, block):
    import tensorflow as tf

    h = _dense(_layer_norm(x, block["ln2"]), block["ff_in"])
    h = 0.5 * h * (1.0 + tf.math.erf(h * (1.0 / math.sqrt(2.0))))  # exact GELU, as Keras'
    return x + _dense(h, block["ff_out"])


def _scaled_qkv(block, heads: int) -> tuple[np.ndarray, np.ndarray]:
    """The qkv projection with the query's 1/sqrt(head_dim) folded into its columns."""
    w, b = block["qkv"]
    d = w.shape[0]
    scale = np.ones(3 * d, np.float32)
    scale[:d] = 1.0 / math.sqrt(d // heads)
    return w * scale, b * scale


@register
class Transformer(Architecture):
    name = "transformer"
    title = "Transformer"
    description = ("Transformer: attends to the last 16 bars at once; can repeat and vary "
                   "a bar it heard.")
    defaults = {"d_model": 128, "layers": 3, "heads": 4, "ff": 512, "window": 256,
                "dropout": 0.1}

    def receptive_field(self, hp: Hyperparameters) -> int:
        """Steps of context: each layer looks ``window - 1`` steps further back than
        the one below it, from the newest step."""
        return int(hp["layers"]) * (int(hp["window"]) - 1) + 1

    def size_text(self, hp: Hyperparameters) -> str:
        return (f"{hp.get('layers')} layers, d {hp.get('d_model')}, {hp.get('heads')} heads, "
                f"feed-forward {hp.get('ff')}, window {hp.get('window')}, dropout "
                f"{hp.get('dropout', 0)}")

    def build(self, hp: Hyperparameters):
        import keras
        from keras import layers

        d, vocab = int(hp["d_model"]), int(hp["vocab_size"])
        if d % int(hp["heads"]):
            raise ValueError(f"d_model {d} is not a multiple of heads {hp['heads']}")
        attention = _attention_layer_class()
        dropout = float(hp.get("dropout", 0.0))
        tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
        x = layers.Embedding(vocab, d, name="embedding")(tokens)
        for i in range(int(hp["layers"])):
            h = layers.LayerNormalization(epsilon=EPSILON, name=f"ln_attention_{i}")(x)
            h = attention(d, int(hp["heads"]), int(hp["window"]), name=f"attention_{i}")(h)
            if dropout > 0:
                h = layers.Dropout(dropout, name=f"attention_dropout_{i}")(h)
            x = layers.Add(name=f"attention_add_{i}")([x, h])
            h = layers.LayerNormalization(epsilon=EPSILON, name=f"ln_ff_{i}")(x)
            h = layers.Dense(int(hp["ff"]), activation="gelu", name=f"ff_in_{i}")(h)
            h = layers.Dense(d, name=f"ff_out_{i}")(h)
            if dropout > 0:
                h = layers.Dropout(dropout, name=f"ff_dropout_{i}")(h)
            x = layers.Add(name=f"ff_add_{i}")([x, h])
        x = layers.LayerNormalization(epsilon=EPSILON, name="ln_final")(x)
        logits = layers.Dense(vocab, name="logits")(x)
        return keras.Model(tokens, logits, name="transformer")

    def state_specs(self, hp: Hyperparameters) -> list[StateSpec]:
        w, heads = int(hp["window"]), int(hp["heads"])
        cache = (heads, w, int(hp["d_model"]) // heads)
        specs = [StateSpec("filled", "filled_out", (w,), 1)]
        for i in range(int(hp["layers"])):
            specs += [StateSpec(f"k_{i}", f"k_{i}_out", cache, 1),
                      StateSpec(f"v_{i}", f"v_{i}_out", cache, 1)]
        return specs

    def step(self, model, hp: Hyperparameters) -> Callable:
        """One token through the blocks, attending to the cache shifted by one with the
        new key and value in its last slot.  Per head, the bias of slot ``s`` is the
        learned bias of distance ``window - 1 - s``; empty slots add -1e9."""
        import tensorflow as tf

        weights = _weights(model, hp)
        heads, d, window = int(hp["heads"]), int(hp["d_model"]), int(hp["window"])
        dh = d // heads
        c = tf.constant
        blocks = [{**b, "qkv": _scaled_qkv(b, heads),
                   "slot_bias": b["relative"][:, ::-1][:, None, :].copy()}  # [H, 1, W]
                  for b in weights["blocks"]]

        def step(token, filled, *cache):
            x = tf.gather(c(weights["embedding"]), token)
            filled = tf.pad(filled[:, 1:], [[0, 0], [0, 1]], constant_values=1.0)
            empty = tf.reshape((filled - 1.0) * -MASKED, [-1, 1, 1, window])  # [B, 1, 1, W]
            new_cache = []
            for i, block in enumerate(blocks):
                qkv = _dense(_layer_norm(x, block["ln1"]), block["qkv"])
                q, k, v = (tf.reshape(z, [-1, heads, 1, dh]) for z in tf.split(qkv, 3, -1))
                keys = tf.concat([cache[2 * i][:, :, 1:], k], axis=2)  # [B, H, W, dh]
                values = tf.concat([cache[2 * i + 1][:, :, 1:], v], axis=2)
                scores = tf.matmul(q, keys, transpose_b=True) + c(block["slot_bias"]) + empty
                o = tf.matmul(tf.nn.softmax(scores, axis=-1), values)  # [B, H, 1, dh]
                x = x + _dense(tf.reshape(o, [-1, d]), block["out"])
                x = _feed_forward(x, block)
                new_cache += [keys, values]
            logits = _dense(_layer_norm(x, weights["ln"]), weights["logits"])
            return (logits, filled, *new_cache)

        return step

    def sequence(self, model, hp: Hyperparameters) -> Callable:
        """The whole sequence in plain TensorFlow on the same weights (the Keras layers
        do not give their keys and values), then the tails: the last ``window`` keys
        and values of every layer and which of those slots hold a token."""
        import tensorflow as tf

        weights = _weights(model, hp)
        heads, d, w = int(hp["heads"]), int(hp["d_model"]), int(hp["window"])
        dh = d // heads
        c = tf.constant
        blocks = [{**b, "qkv": _scaled_qkv(b, heads)} for b in weights["blocks"]]

        def split_heads(z, b, t):  # [B, T, d] -> [B, H, T, dh]
            return tf.transpose(tf.reshape(z, [b, t, heads, dh]), [0, 2, 1, 3])

        def tail(z):  # [B, H, T, dh] -> [B, 1, H, W, dh], zeros before the first token
            z = tf.pad(z, [[0, 0], [0, 0], [w, 0], [0, 0]])[:, :, -w:]
            return tf.reshape(z, [-1, 1, heads, w, dh])

        def run(tokens):
            b, t = tf.shape(tokens)[0], tf.shape(tokens)[1]
            x = tf.gather(c(weights["embedding"]), tokens)
            distance = tf.range(t)[:, None] - tf.range(t)[None, :]
            seen = tf.logical_and(distance >= 0, distance < w)
            clipped = tf.clip_by_value(distance, 0, w - 1)
            tails = []
            for block in blocks:
                qkv = _dense(_layer_norm(x, block["ln1"]), block["qkv"])
                q, k, v = (split_heads(z, b, t) for z in tf.split(qkv, 3, -1))
                bias = tf.where(seen[None], tf.gather(c(block["relative"]), clipped, axis=1),
                                MASKED)
                scores = tf.matmul(q, k, transpose_b=True) + bias[None]
                o = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
                o = tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [b, t, d])
                x = _feed_forward(x + _dense(o, block["out"]), block)
                tails += [tail(k), tail(v)]
            logits = _dense(_layer_norm(x, weights["ln"]), weights["logits"])
            filled = tf.pad(tf.ones([b, t]), [[0, 0], [w, 0]])[:, -w:]
            return (logits, tf.reshape(filled, [-1, 1, w]), *tails)

        return run
