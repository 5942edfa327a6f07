"""``python -m training ensemble``: two trained models as one, a product of experts.

The ensemble's next-token distribution is the weighted geometric mean of its members'
(``logits = w * a + (1 - w) * b``: after the app's softmax, the same distribution as
``w * log_softmax(a) + (1 - w) * log_softmax(b)``), with ``w`` chosen on the validation
split.  It is built from the members'
exported ONNX graphs, not retrained: both graphs go side by side into one step graph
(one ``token`` input, every member's states, one ``logits`` output) and one sequence
graph, so the engine runs it like any other model. An LSTM's states have delay 1 and
a WaveNet's keep their own delays, so the state rule of docs/model-contract.md holds
unchanged, and the card lists every state under its prefixed name.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.encodings import DEFAULT_ENCODING, Encoding, encoding_from_card
from engine.errors import ContinuoError, EncodingError
from engine.models import StateSpec, attention_context, logits_in_pieces
from engine.models.card import make_card, states_from_card, write_card
from training.scoring import log_softmax, sequence_session

WEIGHT_GRID = tuple(round(0.05 * k, 2) for k in range(21))


def _prefixed(model_proto, prefix: str, keep: set[str]):
    """A copy of ``model_proto`` whose every name starts with ``prefix``, but ``keep``."""
    import onnx
    from onnx import compose

    from training.export import rename_in_nodes

    prefixed = compose.add_prefix(onnx.ModelProto.FromString(model_proto.SerializeToString()),
                                  prefix)
    rename_in_nodes(prefixed.graph, {prefix + name: name for name in keep})
    return prefixed


def combine_graphs(protos: Sequence, prefixes: Sequence[str], shared_input: str,
                   weights: Sequence[float]):
    """One graph running every member on ``shared_input``: inputs are the shared one and
    each member's other inputs (prefixed), outputs ``logits`` (the weighted sum of the
    members' logits, which softmax makes the weighted geometric mean of their
    distributions) and each member's other outputs (prefixed)."""
    import onnx
    from onnx import TensorProto, helper

    opsets = {(o.domain, o.version) for p in protos for o in p.opset_import}
    nodes, inputs, outputs, inits, value_info = [], [], [], [], []
    shared = None
    terms = []
    for proto, prefix, w in zip(protos, prefixes, weights):
        inner = _prefixed(proto, prefix, {shared_input})
        g = inner.graph
        init_names = {t.name for t in g.initializer}
        for i in g.input:
            if i.name == prefix + shared_input:
                if shared is None:
                    shared = onnx.ValueInfoProto.FromString(i.SerializeToString())
                    shared.name = shared_input
            elif i.name not in init_names:
                inputs.append(i)
        nodes.extend(g.node)
        inits.extend(g.initializer)
        value_info.extend(g.value_info)
        for o in g.output:
            if o.name == prefix + "logits":
                continue
            outputs.append(o)
        # w * logits, not w * log_softmax(logits): the two differ by one number per row,
        # which every softmax taken of the sum (sampling, scoring) cancels, and the
        # step is two LogSoftmax nodes cheaper
        scale = prefix + "weight"
        inits.append(helper.make_tensor(scale, TensorProto.FLOAT, [], [float(w)]))
        nodes.append(helper.make_node("Mul", [prefix + "logits", scale], [prefix + "weighted"]))
        terms.append(prefix + "weighted")
    if shared is None:
        raise ValueError(f"no member graph has the input '{shared_input}'")
    nodes.append(helper.make_node("Sum", terms, ["logits"]))
    # the first member's logits, shape and all, so the card check can see the vocabulary
    out = onnx.ValueInfoProto.FromString(
        next(o for o in protos[0].graph.output if o.name == "logits").SerializeToString())
    graph = helper.make_graph(nodes, "ensemble", [shared] + inputs, [out] + outputs,
                              initializer=inits, value_info=value_info)
    by_domain: dict[str, int] = {}
    for domain, version in opsets:
        by_domain[domain] = max(version, by_domain.get(domain, 0))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v)
                                                    for d, v in sorted(by_domain.items())],
                              producer_name="continuo-training-ensemble")
    model.ir_version = max(p.ir_version for p in protos)
    onnx.checker.check_model(model)
    return model


def member_log_probs(seq_path: Path, tunes: Sequence[np.ndarray],
                     context: int | None = None) -> list[np.ndarray]:
    """Each tune's ``[len, vocab]`` log-probabilities from a member's sequence model
    (``context``: an attending member's reach, ``engine.models.attention_context``: a
    long tune goes through it in pieces, as the app runs it)."""
    sess = sequence_session(seq_path)

    def run(x: np.ndarray, _start: int) -> np.ndarray:
        return sess.run(["logits"], {"tokens": x})[0]

    return [log_softmax(logits_in_pieces(run, np.asarray(t, np.int32)[None], context)[0])
            for t in tunes]


def choose_weight(a: list[np.ndarray], b: list[np.ndarray], tunes: Sequence[np.ndarray],
                  encoding: Encoding = DEFAULT_ENCODING) -> tuple[float, dict[float, float]]:
    """The weight of the first member (from :data:`WEIGHT_GRID`) with the fewest
    bits per note on ``tunes`` (notes: ``encoding``'s onsets); also every weight's bits
    per note."""
    notes = sum(encoding.count_onsets(np.asarray(t[1:])) for t in tunes)
    by_weight = {}
    for w in WEIGHT_GRID:
        bits = 0.0
        for t, la, lb in zip(tunes, a, b):
            targets = np.asarray(t[1:])
            mix = log_softmax(w * la[:-1] + (1 - w) * lb[:-1])
            bits -= mix[np.arange(len(targets)), targets].sum() / math.log(2)
        by_weight[w] = round(float(bits) / max(notes, 1), 4)
    best = min(by_weight, key=lambda w: (by_weight[w], abs(w - 0.5)))
    return best, by_weight


def build_ensemble(cards: Sequence[str | Path], name: str, out_dir: str | Path,
                   weight: float | None = None, cache_dir=None,
                   validation: Sequence[np.ndarray] | None = None, command: str = "") -> dict:
    """Write ``<name>.onnx``, ``<name>.seq.onnx`` and ``<name>.json`` into ``out_dir``."""
    import time

    import onnx

    from training.architectures import get
    from training.export import save_onnx

    t0 = time.monotonic()
    if len(cards) != 2:
        raise ContinuoError("an ensemble is made of exactly two model cards")
    paths = [Path(c) for c in cards]
    members = []
    for p in paths:
        if not p.exists():
            raise ContinuoError(f"{p}: there is no such model card")
        try:
            members.append(json.loads(p.read_text()))
        except (OSError, ValueError) as exc:
            raise ContinuoError(f"{p}: the model card cannot be read ({exc})") from None
    names = [m["name"] for m in members]
    if len(set(names)) != 2:
        raise ContinuoError(f"the two members must be different models, not {names[0]} twice")
    if members[0]["encoding"] != members[1]["encoding"]:
        raise ContinuoError(f"{paths[0]} and {paths[1]} use different encodings")
    try:
        encoding = encoding_from_card(members[0]["encoding"])
    except EncodingError as exc:
        raise ContinuoError(f"{paths[0]}: {exc}") from None
    if weight is not None and not 0.0 <= weight <= 1.0:
        raise ContinuoError(f"the first member's weight must be between 0 and 1, not {weight}")
    by_weight = None
    if weight is None:
        if validation is None:
            from training import corpus as C

            # the members' own corpus: the part music for a polyphonic encoding
            collection = C.PART_MUSIC if members[0]["encoding"].get("polyphonic") \
                else C.TRAIN_COLLECTION
            validation = C.get_corpus(collection, cache_dir=cache_dir or C.CACHE_DIR,
                                      encoding=encoding).split("validation")
        tunes = [t for t in validation if len(t) >= 2]
        logp = [member_log_probs(p.parent / m["files"]["sequence"], tunes,
                                 attention_context(m))
                for p, m in zip(paths, members)]
        weight, by_weight = choose_weight(logp[0], logp[1], tunes, encoding)
        print(f"ensemble weight of {names[0]}: {weight} (validation bits/note by weight: "
              f"{by_weight})", file=sys.stderr)
    weights = (float(weight), round(1.0 - float(weight), 6))
    prefixes = [f"{n}." for n in names]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    step_protos = [onnx.load(str(p.parent / m["files"]["step"])) for p, m in zip(paths, members)]
    seq_protos = [onnx.load(str(p.parent / m["files"]["sequence"]))
                  for p, m in zip(paths, members)]
    files = {"step": f"{name}.onnx", "sequence": f"{name}.seq.onnx"}
    save_onnx(combine_graphs(step_protos, prefixes, "token", weights), out_dir / files["step"])
    save_onnx(combine_graphs(seq_protos, prefixes, "tokens", weights),
               out_dir / files["sequence"])

    states = [StateSpec(pre + s.input, pre + s.output, s.shape, s.delay)
              for pre, m in zip(prefixes, members) for s in states_from_card(m)]
    # priming in one sequence-graph call needs every member's state outputs
    tails = [m["sequence_model"].get("state_outputs") for m in members]
    state_outputs = (None if not all(tails) else
                     [pre + t for pre, member_tails in zip(prefixes, tails) for t in member_tails])
    rfs = [m.get("receptive_field_steps") for m in members]
    hp = {"architecture": "ensemble", "members": names, "weights": list(weights),
          "combination": "weighted sum of the members' log-probabilities (a product of "
                         "experts), weight chosen on the validation split",
          "member_hyperparameters": [m["hyperparameters"] for m in members]}
    if by_weight is not None:
        hp["validation_bits_per_note_by_weight"] = {str(k): v for k, v in by_weight.items()}
    member_training = [m.get("training", {}) for m in members]
    training = {
        "command": command or f"python -m training ensemble --cards {paths[0]} {paths[1]} "
                              f"--name {name}",
        "wall_time_s": round(sum(t.get("wall_time_s") or 0 for t in member_training)
                             + time.monotonic() - t0, 1),
        "epochs": 0,
        "note": "no training of its own; the time is its members' training plus the build",
        "members": {n: t.get("command") for n, t in zip(names, member_training)},
        "date": _dt.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU ({platform.platform()}), 2 threads",
    }
    ensemble = get("ensemble")
    card = make_card(
        name, ensemble.name, ensemble.describe(members), files, out_dir, encoding, states,
        state_outputs=state_outputs, receptive_field_steps=None if None in rfs else max(rfs),
        hyperparameters=hp, parameters=sum(int(m.get("parameters", 0)) for m in members),
        data=members[0].get("data") or {}, metrics={}, training=training)
    write_card(card, out_dir / f"{name}.json")
    return card
