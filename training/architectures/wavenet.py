"""A WaveNet (van den Oord et al. 2016) over tokens, stepped with the "fast WaveNet"
queues of Paine et al. 2016.

Embedding -> causal conv (kernel 2) to the residual width -> for each dilation a gated
residual block: one causal dilated conv (kernel 2) giving filter and gate halves,
tanh(filter) * sigmoid(gate), a 1x1 conv back to the residual stream and a 1x1 conv
into the skip sum -> relu, 1x1, relu, 1x1 -> logits.  The step model's states are the
input of each causal convolution: ``past_<i>`` in, ``present_<i>`` out, with the
convolution's dilation as delay.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from engine.models import StateSpec
from training.architectures.base import Architecture, Hyperparameters, register, sequence_tails


def _pointwise(layer, x):
    import tensorflow as tf

    return tf.matmul(x, layer.kernel[0]) + layer.bias


def _fused_tap(layer) -> tuple[np.ndarray, np.ndarray]:
    """A causal kernel-2 Conv1D as one matrix: ``concat([past, now]) @ w + b``."""
    k = np.asarray(layer.kernel)  # [2, in, out]: tap 0 sees t - d, tap 1 sees t
    return np.concatenate([k[0], k[1]], axis=0), np.asarray(layer.bias)


@register
class WaveNet(Architecture):
    name = "wavenet"
    title = "WaveNet"
    description = ("WaveNet: looks back a fixed window of steps; follows rhythm and motifs "
                   "closely.")
    defaults = {"embed_dim": 32, "residual_channels": 64, "skip_channels": 128,
                "dilations": [2 ** i for i in range(7)] * 2, "dropout": 0.0,
                "block_dropout": False}

    def hyperparameters(self, vocab_size: int, **sizes):
        hp = super().hyperparameters(vocab_size, **sizes)
        if not hp.get("block_dropout"):  # cards name it only when it is on
            hp.pop("block_dropout", None)
        return hp

    def receptive_field(self, hp: Hyperparameters) -> int:
        """Steps of context: the newest step, the dilations' sum and one more for the
        input convolution."""
        return 1 + 1 + sum(int(d) for d in hp["dilations"])

    def size_text(self, hp: Hyperparameters) -> str:
        return (f"{len(hp.get('dilations', []))} blocks, {hp.get('residual_channels')} "
                f"residual / {hp.get('skip_channels')} skip channels, dropout "
                f"{hp.get('dropout', 0)}{' (in blocks too)' if hp.get('block_dropout') else ''}")

    def build(self, hp: Hyperparameters):
        import keras
        from keras import layers

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

    def state_specs(self, hp: Hyperparameters) -> list[StateSpec]:
        specs = [StateSpec("past_0", "present_0", (int(hp["embed_dim"]),), 1)]
        for i, d in enumerate(hp["dilations"]):
            specs.append(StateSpec(f"past_{i + 1}", f"present_{i + 1}",
                                   (int(hp["residual_channels"]),), int(d)))
        return specs

    def step(self, model, hp: Hyperparameters) -> Callable:
        """One step of the WaveNet, with as few graph nodes as the arithmetic allows
        (each node costs onnxruntime about a microsecond, which adds up over 14 blocks):
        each dilated convolution is two matrix products over ``[past, now]``, the
        filter's and the gate's, each of which onnxruntime fuses with its activation,
        and the skip paths of all blocks are one product over the concatenated gated
        outputs at the end.  The weights are made constants inside the traced function,
        so the exported graph holds them as initializers (captured tensors would become
        extra inputs)."""
        import tensorflow as tf

        n = len(hp["dilations"])
        first = _fused_tap(model.get_layer("input_conv"))
        dilated = [_fused_tap(model.get_layer(f"dilated_{i}")) for i in range(n)]
        residual = [(np.asarray(model.get_layer(f"residual_{i}").kernel)[0],
                     np.asarray(model.get_layer(f"residual_{i}").bias)) for i in range(n - 1)]
        skip_w = np.concatenate(
            [np.asarray(model.get_layer(f"skip_{i}").kernel)[0] for i in range(n)], axis=0)
        skip_b = np.sum([np.asarray(model.get_layer(f"skip_{i}").bias) for i in range(n)],
                        axis=0)
        c = tf.constant
        table = model.get_layer("embedding").embeddings

        def tap(past, now, weights):
            return tf.matmul(tf.concat([past, now], axis=-1), c(weights[0])) + c(weights[1])

        res = int(hp["residual_channels"])
        # filter and gate as two products, each followed by its own activation:
        # onnxruntime fuses a product and its activation into one node, where one
        # product, a split and two activations were four
        halves = [((w[:, :res], b[:res]), (w[:, res:], b[res:])) for w, b in dilated]

        def step(token, *states):
            e = tf.gather(tf.convert_to_tensor(table), token)
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

    def sequence(self, model, hp: Hyperparameters) -> Callable:
        """The model with every causal convolution's input over time as extra outputs;
        their last ``delay`` steps are the tails."""
        import keras

        taps = [model.get_layer("input_conv").input]
        taps += [model.get_layer(f"dilated_{i}").input for i in range(len(hp["dilations"]))]
        full = keras.Model(model.inputs, [model.outputs[0], *taps])
        specs = self.state_specs(hp)

        def run(tokens):
            logits, *per_state = full(tokens, training=False)
            return (logits, *sequence_tails(specs, per_state))

        return run
