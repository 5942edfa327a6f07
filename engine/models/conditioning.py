"""Conditioning inputs: what a step model may take at each step besides the token.

A card may declare, in ``step_model.conditioning``, named per-step inputs (a style id,
the other parts' onsets, a chord...).  Each has a shape per batch row, an element type,
a sentence saying what its values mean, and a default (zeros unless the card says
otherwise).  The values come from the model's encoding (:class:`Conditioned`), for the
seed's steps and the continuation's alike, or from the caller of
:meth:`engine.models.StepModel.step`.  A card without the section declares none, and
its model is fed exactly as before.  See docs/model-contract.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from engine.errors import ModelError
from engine.models.onnx_signature import ONNX_FLOAT, ONNX_INT32

# the element types a conditioning input may have: card name -> (numpy, ONNX) types
DTYPES = {"float32": (np.float32, ONNX_FLOAT), "int32": (np.int32, ONNX_INT32)}
MAX_CONDITIONING_VALUES = 1 << 16  # per row and step: a chord, a few parts' onsets


@dataclass(frozen=True, slots=True)
class ConditioningInput:
    """One named per-step input of the step model: ``[batch, *shape]`` of ``dtype``
    (``[batch, time, *shape]`` in the sequence graph)."""

    input: str
    shape: tuple[int, ...]
    dtype: str  # "float32" or "int32"
    meaning: str  # what the values mean, for whoever writes an encoding for the model
    default: tuple[float, ...]  # flattened, one value per element of ``shape``

    @property
    def numpy_dtype(self) -> type:
        return DTYPES[self.dtype][0]

    @property
    def onnx_type(self) -> int:
        return DTYPES[self.dtype][1]

    def default_value(self) -> np.ndarray:
        """The value fed where nothing else is given: ``shape`` of ``dtype``."""
        return np.asarray(self.default, dtype=self.numpy_dtype).reshape(self.shape)

    def card(self) -> dict[str, Any]:
        """The input as the card's ``step_model.conditioning`` lists it."""
        out: dict[str, Any] = {"input": self.input, "shape": list(self.shape),
                               "dtype": self.dtype, "meaning": self.meaning}
        if any(self.default):
            out["default"] = [int(v) if self.dtype == "int32" else float(v)
                              for v in self.default]
        return out


def conditioning_input(input: str, shape: tuple[int, ...] | list[int] = (1,),
                       dtype: str = "float32", meaning: str = "",
                       default: Any = None) -> ConditioningInput:
    """A conditioning input for a card being written (training): ``default`` is None
    (zeros), one number for every element, or a list of ``prod(shape)`` numbers."""
    shape = tuple(int(d) for d in shape)
    return _checked(input, shape, dtype, meaning, default, "the conditioning input")


def _checked(name: Any, shape: tuple[int, ...] | None, dtype: Any, meaning: Any,
             default: Any, what: str) -> ConditioningInput:
    if not isinstance(name, str) or not name:
        raise ModelError(f"{what} needs an input name")
    if shape is None or any(d <= 0 for d in shape) or math.prod(shape) > MAX_CONDITIONING_VALUES:
        raise ModelError(f"{what} '{name}' needs a shape of positive sizes (at most "
                         f"{MAX_CONDITIONING_VALUES} values a step)")
    if dtype not in DTYPES:
        raise ModelError(f"{what} '{name}' has dtype {str(dtype)[:20]!r}; a conditioning "
                         f"input is {' or '.join(DTYPES)}")
    if not isinstance(meaning, str) or not meaning.strip():
        raise ModelError(f"{what} '{name}' does not say what its values mean ('meaning')")
    size = math.prod(shape)
    values = [0] * size if default is None else default
    if _is_number(values):
        values = [values] * size
    if (not isinstance(values, list | tuple) or len(values) != size
            or not all(_is_number(v) for v in values)
            or dtype == "int32" and not all(float(v).is_integer() for v in values)):
        raise ModelError(f"{what} '{name}': its default must be {size} "
                         f"{'whole ' if dtype == 'int32' else ''}number(s)")
    return ConditioningInput(name, shape, dtype, meaning.strip(), tuple(float(v) for v in values))


def _is_number(v: Any) -> bool:
    try:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    except OverflowError:  # an integer too large for a float
        return False


def conditioning_from_card(step: dict, reserved: set[str], what: str) -> tuple[ConditioningInput, ...]:
    """The conditioning inputs a card's ``step_model`` section declares (none when it
    has no ``conditioning``); ``reserved``: the token's and the states' input names."""
    raw = step.get("conditioning")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ModelError(f"{what}: the step model's 'conditioning' must list its inputs")
    out: list[ConditioningInput] = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict):
            raise ModelError(f"{what}: conditioning input {i + 1} of the step model is not a "
                             f"table")
        shape = c.get("shape")
        dims = tuple(shape) if isinstance(shape, list) and all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape) else None
        spec = _checked(c.get("input"), dims, c.get("dtype"), c.get("meaning"),
                        c.get("default"), f"{what}: conditioning input {i + 1}")
        if spec.input in reserved or spec.input in {o.input for o in out}:
            raise ModelError(f"{what}: conditioning input '{spec.input}' has the name of "
                             f"another input")
        out.append(spec)
    return tuple(out)


class Conditioned:
    """An encoding that supplies its model's conditioning values (a mixin beside
    :class:`engine.encodings.Encoding`; an encoding without it supplies none, and its
    model's inputs keep their defaults).

    ``conditioning(step)`` gives the values for the token fed at ``step``: 0 is the
    first token the model reads (the seed's first, as primed), and generation goes on
    counting, so a seed and its continuation are conditioned alike."""

    def conditioning(self, step: int) -> Mapping[str, Any] | None:
        """Per input name, a value broadcastable to ``[batch, *shape]``; None (or a
        name left out): that input's default."""
        return None

    def conditioning_span(self, start: int, length: int) -> Mapping[str, Any] | None:
        """The values of the tokens fed at ``start`` .. ``start + length - 1`` at once,
        per input name broadcastable to ``[batch, length, *shape]`` (a name left out:
        its default); None: the sequence graph asks :meth:`conditioning` step by step."""
        return None
