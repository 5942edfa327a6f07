"""Keras models of any registered architecture (:mod:`training.architectures`), and
the two TensorFlow functions every export traces.

Every model maps a batch of token sequences ``[batch, time]`` (int32) to logits
``[batch, time, vocab]`` where ``logits[:, t]`` predicts token ``t + 1`` (causal).  Its
*step function* reads the same Keras weights and computes one new step from the newest
token and the states, so that generation costs one step of work per note; its
*sequence function* runs the whole sequence and also gives each state's tail, so the
engine primes in one call (docs/model-contract.md).  What differs between
architectures lives in their modules; this one wraps them under the contract's names.

A model is fully described by its hyperparameter dict (JSON in the model card), so
``build_model(hp)`` + a ``.weights.h5`` file rebuild it exactly: no pickled objects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.models import StateSpec
from training.architectures import get, tail_output

__all__ = ["build_model", "count_parameters", "default_hyperparameters", "load_keras_model",
           "receptive_field", "sequence_function", "state_specs", "step_function",
           "tail_output"]


def default_hyperparameters(architecture: str, vocab_size: int = 38) -> dict[str, Any]:
    """The sizes we ship, small enough that one generation step is cheap on a CPU."""
    return get(architecture).hyperparameters(vocab_size)


def receptive_field(hp: dict[str, Any]) -> int | None:
    """Steps of context the model sees; None when it sees the whole tune."""
    return get(hp["architecture"]).receptive_field(hp)


def state_specs(hp: dict[str, Any]) -> list[StateSpec]:
    """The step model's states in the order the step function takes and returns them."""
    return get(hp["architecture"]).state_specs(hp)


def build_model(hp: dict[str, Any]):
    """The full-sequence Keras model that ``hp`` (a card's hyperparameters) describes."""
    return get(hp["architecture"]).build(hp)


def load_keras_model(card_path: str | Path):
    """Rebuild a model's full-sequence Keras model from its card and weights.

    The card's ``keras`` entry names the ``.weights.h5`` file (relative to the card);
    the generation benchmark uses this to time the seed notebooks' way of generating
    (Keras predict over the window for each new note) on the very same weights.
    """
    card_path = Path(card_path)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    model = build_model(card["hyperparameters"])
    weights = card.get("keras", {}).get("weights")
    if not weights:
        raise FileNotFoundError(f"{card_path.name}: the card names no Keras weights file")
    model.load_weights(str(card_path.parent / weights))
    return model


def count_parameters(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.weights))


def step_function(model, hp: dict[str, Any]):
    """A tf.function ``(token [B], *states) -> (logits [B, V], *new_states)`` that
    shares ``model``'s weights; its input signature carries the contract's names."""
    import tensorflow as tf

    arch = get(hp["architecture"])
    fn = arch.step(model, hp)
    signature = [tf.TensorSpec([None], tf.int32, name="token")]
    signature += [tf.TensorSpec([None, *s.shape], tf.float32, name=s.input)
                  for s in arch.state_specs(hp)]
    return tf.function(fn, input_signature=signature)


def sequence_function(model, hp: dict[str, Any]):
    """A tf.function ``tokens [B, T] -> (logits [B, T, V], *tails)`` in inference mode,
    one tail ``[B, delay, *shape]`` per state of :func:`state_specs` (see
    :meth:`training.architectures.Architecture.sequence`)."""
    import tensorflow as tf

    run = get(hp["architecture"]).sequence(model, hp)
    return tf.function(run, input_signature=[tf.TensorSpec([None, None], tf.int32,
                                                           name="tokens")])
