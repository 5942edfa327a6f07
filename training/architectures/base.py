"""What every architecture provides, the registry, and the helpers they share.

An architecture is one object registered here under its name (the card's
``architecture``): its default sizes, how to build the full-sequence Keras model from a
card's hyperparameters, its step model's states, and two plain TensorFlow functions
that read the same Keras weights: one step (token + states -> logits + states) and one
whole sequence (tokens -> logits + each state's tail).  :mod:`training.export` turns
those into the two ONNX graphs of docs/model-contract.md, so a new architecture is one
new module in this folder:

    @register
    class MyNet(Architecture):
        name = "my-net"
        description = "My net: what a musician hears in it."
        defaults = {"units": 64}
        def build(self, hp): ...
        def state_specs(self, hp): ...
        def step(self, model, hp): ...
        def sequence(self, model, hp): ...

A model is fully described by its hyperparameter dict (``architecture``, ``vocab_size``
and the sizes; JSON in the card), so ``build(hp)`` + a ``.weights.h5`` file rebuild it
exactly: no pickled objects.  TensorFlow is imported when a model is built, not when the
registry is read, so the command line lists the architectures without loading it.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from engine.errors import ContinuoError
from engine.models import StateSpec

Hyperparameters = dict[str, Any]


class Architecture:
    """One kind of network.  Subclasses set the class attributes and implement
    :meth:`build`, :meth:`state_specs`, :meth:`step` and :meth:`sequence`."""

    name: ClassVar[str]
    description: ClassVar[str]  # the card's one line, for a musician
    title: ClassVar[str | None] = None  # how an ensemble's description names it
    defaults: ClassVar[Hyperparameters] = {}  # the sizes we ship
    trainable: ClassVar[bool] = True  # False: made from other models (the ensemble)
    baseline: ClassVar[bool] = False  # trained for comparison, kept out of models/

    # ---- sizes ----------------------------------------------------------------------
    def hyperparameters(self, vocab_size: int, **sizes: Any) -> Hyperparameters:
        """The card's hyperparameters: the defaults, then ``sizes``."""
        return {"architecture": self.name, "vocab_size": int(vocab_size),
                **{k: (list(v) if isinstance(v, list) else v) for k, v in self.defaults.items()},
                **sizes}

    def parse_size(self, key: str, text: str) -> Any:
        """``key=text`` from a command line (``--set``, a sweep's sizes), typed like the
        default of ``key``: a comma list, a whole number, a number or yes/no."""
        if key not in self.defaults:
            raise ContinuoError(f"{self.name} has no setting '{key}' (it has "
                                f"{', '.join(sorted(self.defaults)) or 'none'})")
        default = self.defaults[key]
        try:
            if isinstance(default, bool):
                return text.lower() in ("1", "true", "yes")
            if isinstance(default, list):
                kind = float if any(isinstance(v, float) for v in default) else int
                return [kind(v) for v in text.split(",")]
            if isinstance(default, int):
                return int(text)
            if isinstance(default, float):
                return float(text)
            return text
        except ValueError:
            raise ContinuoError(f"bad value for {key}: {text}") from None

    def receptive_field(self, hp: Hyperparameters) -> int | None:
        """Steps of context the model sees; None when it sees the whole tune."""
        return None

    def size_text(self, hp: Hyperparameters) -> str:
        """The size, in a few words, for models/README.md's table."""
        return self.name

    # ---- the network ----------------------------------------------------------------
    def build(self, hp: Hyperparameters):
        """The full-sequence Keras model: ``tokens [B, T]`` int32 -> ``logits [B, T,
        vocab]``, causal (``logits[:, t]`` predicts token ``t + 1``)."""
        raise NotImplementedError(f"{self.name} is not built as one Keras model")

    def state_specs(self, hp: Hyperparameters) -> list[StateSpec]:
        """The step model's states in the order :meth:`step` takes and returns them."""
        raise NotImplementedError

    def step(self, model, hp: Hyperparameters) -> Callable:
        """A plain function ``(token [B], *states) -> (logits [B, V], *new_states)`` on
        ``model``'s weights; :func:`step_function` traces it under the contract's names."""
        raise NotImplementedError

    def sequence(self, model, hp: Hyperparameters) -> Callable:
        """A plain function ``tokens [B, T] -> (logits [B, T, V], *tails)`` in inference
        mode, one tail per state of :meth:`state_specs`: ``[B, delay, *shape]``, the
        values the step model's output for that state takes at steps ``T - delay ..
        T - 1`` (zeros before step 0), so the engine primes in one call."""
        raise NotImplementedError


ARCHITECTURES: dict[str, Architecture] = {}


def register(cls: type[Architecture]) -> type[Architecture]:
    """Class decorator: cards and commands naming ``cls.name`` get an instance."""
    if cls.name in ARCHITECTURES and type(ARCHITECTURES[cls.name]) is not cls:
        raise ValueError(f"architecture {cls.name} is registered twice")
    ARCHITECTURES[cls.name] = cls()
    return cls


def names(trainable: bool | None = None) -> list[str]:
    """The registered architectures' names (only the trainable ones, or only the
    others, when asked), in registration order."""
    return [n for n, a in ARCHITECTURES.items() if trainable is None or a.trainable == trainable]


def get(name: str) -> Architecture:
    """The registered architecture ``name``; a ContinuoError lists the known ones."""
    try:
        return ARCHITECTURES[name]
    except (KeyError, TypeError):
        raise ContinuoError(f"unknown architecture {name!r}; this training knows "
                            f"{', '.join(ARCHITECTURES) or 'none'}") from None


# ---- shared helpers ---------------------------------------------------------------------


def tail_output(spec: StateSpec) -> str:
    """The sequence graph's output holding ``spec``'s last ``delay`` values."""
    return f"{spec.output}_tail"


def final_tails(per_state) -> list:
    """Tails of recurrent states (delay 1) from their final values ``[B, *shape]``."""
    return [values[:, None] for values in per_state]


def sequence_tails(specs: list[StateSpec], per_state) -> list:
    """Tails of queue states (a causal convolution's input, delay ``d``) from their
    values over time ``[B, T, *shape]``: the last ``d`` steps, zero-padded on the left
    like the convolution."""
    import tensorflow as tf

    tails = []
    for spec, values in zip(specs, per_state):
        d = spec.delay
        tail = tf.pad(values, [[0, 0], [d, 0], [0, 0]])[:, -d:]
        # the reshape states [B, d, channels] in the graph, for the card check
        tails.append(tf.reshape(tail, [-1, d, *spec.shape]))
    return tails
