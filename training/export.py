"""Keras model -> the contract's ONNX files and JSON card (docs/model-contract.md).

Two graphs per model, whatever its architecture (:mod:`training.architectures`): the
*step* model ``<name>.onnx`` (token + states -> logits + states, batch first) from
:func:`training.models.step_function`, and the *sequence* model ``<name>.seq.onnx``
(tokens -> logits and each state's tail) from :func:`training.models.sequence_function`.
Both go through tf2onnx; afterwards the graph inputs and outputs are renamed to the
contract's names, so the engine never depends on tf2onnx's naming habits.  Every file
is written atomically, and the card (:func:`engine.models.card.make_card`, the one
schema) records each file's sha256 so the app can refuse a card that does not match its
files.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.encodings import DEFAULT_ENCODING, Encoding
from engine.formats import write_bytes_atomic
from engine.models.card import make_card, write_card
from training.architectures import get, tail_output

OPSET = 17
SPLIT_RULE = "zlib.crc32(id.encode()) % 20: 0 test, 1 validation, else train"

__all__ = ["OPSET", "build_card", "export_model", "export_onnx", "rename_in_nodes",
           "step_onnx", "write_card"]


def rename_in_nodes(graph, mapping: dict[str, str]) -> None:
    """Rename every node input and output found in ``mapping``, in subgraphs too
    (the bodies of Loop, If and Scan)."""
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in mapping:
                node.input[k] = mapping[name]
        for k, name in enumerate(node.output):
            if name in mapping:
                node.output[k] = mapping[name]
        for attr in node.attribute:
            if len(attr.g.node):
                rename_in_nodes(attr.g, mapping)
            for sub in attr.graphs:
                rename_in_nodes(sub, mapping)


def _rename_io(model_proto, inputs: Sequence[str], outputs: Sequence[str]):
    """Rename the graph's inputs and outputs, by position, to the contract's names."""
    graph = model_proto.graph
    mapping: dict[str, str] = {}
    real_inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if len(real_inputs) != len(inputs) or len(graph.output) != len(outputs):
        raise RuntimeError(f"the ONNX graph has {len(real_inputs)} inputs and "
                           f"{len(graph.output)} outputs; expected {len(inputs)} and {len(outputs)}")
    for value, new in zip(real_inputs, inputs):
        mapping[value.name] = new
    for value, new in zip(graph.output, outputs):
        mapping[value.name] = new
    for value in list(real_inputs) + list(graph.output):
        value.name = mapping[value.name]

    rename_in_nodes(graph, mapping)
    return model_proto


def save_onnx(model_proto, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model_proto)
    write_bytes_atomic(path, model_proto.SerializeToString())
    os.chmod(path, 0o644)  # mkstemp makes files private; models are for everyone


def export_onnx(model, hp: dict[str, Any], out_dir: str | Path, name: str) -> dict[str, str]:
    """Write ``<name>.onnx`` (step) and ``<name>.seq.onnx`` (sequence) into ``out_dir``.

    Returns the files' names by role: ``{"step": ..., "sequence": ...}``.
    """
    import tf2onnx

    from training.models import sequence_function, state_specs, step_function

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = state_specs(hp)

    step_fn = step_function(model, hp)
    proto, _ = tf2onnx.convert.from_function(step_fn, input_signature=step_fn.input_signature,
                                             opset=OPSET)
    proto = _rename_io(proto, ["token"] + [s.input for s in specs],
                       ["logits"] + [s.output for s in specs])
    step_name = f"{name}.onnx"
    save_onnx(proto, out_dir / step_name)

    seq_fn = sequence_function(model, hp)
    proto, _ = tf2onnx.convert.from_function(seq_fn, input_signature=seq_fn.input_signature,
                                             opset=OPSET)
    proto = _rename_io(proto, ["tokens"], ["logits"] + [tail_output(s) for s in specs])
    seq_name = f"{name}.seq.onnx"
    save_onnx(proto, out_dir / seq_name)
    return {"step": step_name, "sequence": seq_name}


def build_card(name: str, hp: dict[str, Any], files: dict[str, str], out_dir: str | Path,
               *, parameters: int, encoding: Encoding = DEFAULT_ENCODING,
               description: str | None = None, data: dict | None = None,
               metrics: dict | None = None, training: dict | None = None,
               keras_weights: str | None = None,
               jobs: Sequence[str] | None = None) -> dict[str, Any]:
    """The model card (docs/model-contract.md) of a model of ``hp`` whose files are
    already in ``out_dir``: states, the sequence graph's tails and the receptive field
    come from its architecture."""
    arch = get(hp["architecture"])
    specs = arch.state_specs(hp)
    extra: dict[str, Any] = {
        "hyperparameters": hp,
        "parameters": int(parameters),
        "data": data or {"corpus": "none (randomly initialised)", "split": SPLIT_RULE,
                         "tunes": {"train": 0, "validation": 0, "test": 0}, "tokens": {}},
        "metrics": metrics or {},
        "training": training or {"command": None, "wall_time_s": 0, "epochs": 0,
                                 "date": _dt.date.today().isoformat(),
                                 "machine": platform.platform()},
    }
    if keras_weights:
        extra["keras"] = {"weights": keras_weights,
                          "rebuild": "training.models.load_keras_model(card_path)"}
    return make_card(name, hp["architecture"], description or arch.description, files,
                     Path(out_dir), encoding, specs,
                     state_outputs=[tail_output(s) for s in specs],
                     receptive_field_steps=arch.receptive_field(hp), jobs=jobs, **extra)


def export_model(model, hp: dict[str, Any], out_dir: str | Path, name: str, *,
                 save_keras_weights: bool = False, **card_fields: Any) -> dict[str, Any]:
    """ONNX step + sequence files, optional Keras weights, and the card: all of it.
    ``card_fields`` go to :func:`build_card` (``encoding`` among them: the default
    melody encoding unless given).

    With ``save_keras_weights`` the weights go to ``keras/<name>.weights.h5`` beside the
    card (HDF5, not pickle) so :func:`training.models.load_keras_model` can rebuild it.
    """
    from training.models import count_parameters

    out_dir = Path(out_dir)
    files = export_onnx(model, hp, out_dir, name)
    weights_rel = None
    if save_keras_weights:
        (out_dir / "keras").mkdir(parents=True, exist_ok=True)
        weights_rel = f"keras/{name}.weights.h5"
        tmp = out_dir / "keras" / f".{name}.tmp.weights.h5"
        # an uncompiled twin, so the file holds the weights and not the optimizer's state
        from training.models import build_model

        twin = build_model(hp)
        twin.set_weights(model.get_weights())
        twin.save_weights(str(tmp))
        os.chmod(tmp, 0o644)
        tmp.replace(out_dir / weights_rel)
    card = build_card(name, hp, files, out_dir, parameters=count_parameters(model),
                      keras_weights=weights_rel, **card_fields)
    write_card(card, out_dir / f"{name}.json")
    return card


def step_onnx(session, card: dict[str, Any], tokens: np.ndarray) -> np.ndarray:
    """Run an onnxruntime step-model session over ``tokens [B, T]`` the way the engine
    does (ring buffers of ``delay`` entries per state); returns logits ``[B, T, V]``.
    Used by the parity test and the export check."""
    batch, length = tokens.shape
    states = card["step_model"]["states"]
    queues = [np.zeros((s["delay"], batch, *s["shape"]), np.float32) for s in states]
    out = []
    for t in range(length):
        feeds = {"token": tokens[:, t].astype(np.int32)}
        for s, q in zip(states, queues):
            feeds[s["input"]] = q[t % s["delay"]]
        results = session.run(["logits"] + [s["output"] for s in states], feeds)
        out.append(results[0])
        for s, q, new in zip(states, queues, results[1:]):
            q[t % s["delay"]] = new
    return np.stack(out, axis=1)
