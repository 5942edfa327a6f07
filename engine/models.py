"""Model cards and their onnxruntime sessions.

A model is ``<name>.json`` (its card, see docs/model-contract.md) beside the ONNX files
it names.  :class:`ModelLibrary` finds cards in the shipped ``models/`` folder and in the
user's models folder and checks each card against its files *before* anyone asks for
the model: the files' sha256, the encoding, and the ONNX graphs' input and output
names, element types and shapes.  The graph signatures are read straight from the ONNX
protobuf (a small reader below) so that listing models stays cheap and does not need
the ``onnx`` package; onnxruntime sessions are only created when a model is used.

A card that fails any check is refused with one line in :attr:`ModelLibrary.problems`
and the other models keep working.  Custom operator libraries are never registered,
and a graph that imports an operator domain onnxruntime does not ship is refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.encoding import FIRST_NOTE_ON, MelodyEncoding
from engine.errors import ContinuoError, EncodingError, ModelError

CARD_FORMAT = "continuo-model-card"
CARD_VERSION = 1
ARCHITECTURES = ("lstm", "wavenet", "seed-lstm", "ensemble")
MAX_CARD_BYTES = 1 << 20
MAX_ONNX_BYTES = 512 << 20
# Operator domains that the stock onnxruntime CPU build implements.  Anything else
# would need a custom operator library, which Continuo never loads.
KNOWN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})

REPO_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

# ONNX TensorProto element types used by the contract
ONNX_FLOAT = 1
ONNX_INT32 = 6
_TYPE_NAMES = {1: "float32", 6: "int32", 7: "int64", 10: "float16", 11: "float64"}


def user_models_dir() -> Path:
    """The user's own models folder: $CONTINUO_MODELS_DIR, else the XDG data folder."""
    env = os.environ.get("CONTINUO_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "continuo" / "models"


# ---------------------------------------------------------------------------------------
# A minimal reader for the parts of an ONNX ModelProto that the checks need
# ---------------------------------------------------------------------------------------


class _ProtoError(ValueError):
    pass


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _ProtoError("the data ends inside a number")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise _ProtoError("a number is too long")


def _fields(buf: memoryview):
    """Yield (field number, wire type, value) of one protobuf message; value is an int
    for varints and fixed-width fields and a memoryview for length-delimited ones."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _ProtoError("a field has number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise _ProtoError("the data ends inside a field")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 5:
            if pos + 4 > end:
                raise _ProtoError("the data ends inside a field")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise _ProtoError("the data ends inside a field")
            value, pos = buf[pos:pos + length], pos + length
        else:
            raise _ProtoError(f"unknown wire type {wire}")
        yield number, wire, value


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class TensorSignature:
    """One graph input or output: name, ONNX element type and shape
    (an int for a fixed dimension, None for a symbolic or unknown one)."""

    name: str
    elem_type: int
    shape: tuple[int | None, ...] | None  # None: the rank is not stated

    def describe(self) -> str:
        return f"{self.name} {_TYPE_NAMES.get(self.elem_type, f'type {self.elem_type}')} " \
               f"{_dims(self.shape)}"


def _dims(shape: tuple[int | None, ...] | None) -> str:
    """A shape as the messages show it: [N, 256], N for a free dimension."""
    if shape is None:
        return "[?]"
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


@dataclass(frozen=True, slots=True)
class GraphSignature:
    inputs: dict[str, TensorSignature]
    outputs: dict[str, TensorSignature]
    domains: frozenset[str]


def _value_info(buf: memoryview) -> TensorSignature:
    name, elem, shape = "", 0, None
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 2:
            name = _text(value)
        elif number == 2 and wire == 2:  # TypeProto
            for n2, w2, v2 in _fields(value):
                if n2 == 1 and w2 == 2:  # TypeProto.Tensor
                    for n3, w3, v3 in _fields(v2):
                        if n3 == 1 and w3 == 0:
                            elem = v3
                        elif n3 == 2 and w3 == 2:  # TensorShapeProto
                            dims: list[int | None] = []
                            for n4, w4, v4 in _fields(v3):
                                if n4 == 1 and w4 == 2:  # Dimension
                                    dim: int | None = None
                                    for n5, w5, v5 in _fields(v4):
                                        if n5 == 1 and w5 == 0:
                                            dim = v5
                                    dims.append(dim)
                            shape = tuple(dims)
    return TensorSignature(name, elem, shape)


def read_onnx_signature(data: bytes) -> GraphSignature:
    """Graph inputs (initializers left out), outputs and operator domains of an
    ONNX model, read from its protobuf bytes.  Raises ValueError when the bytes are
    not a well-formed ONNX model."""
    buf = memoryview(data)
    graph = None
    domains: set[str] = set()
    for number, wire, value in _fields(buf):
        if number == 7 and wire == 2:
            graph = value
        elif number == 8 and wire == 2:  # opset_import
            domain = ""
            for n2, w2, v2 in _fields(value):
                if n2 == 1 and w2 == 2:
                    domain = _text(v2)
            domains.add(domain)
    if graph is None:
        raise _ProtoError("there is no graph in it")
    inputs: list[TensorSignature] = []
    outputs: list[TensorSignature] = []
    initializers: set[str] = set()
    for number, wire, value in _fields(graph):
        if wire != 2:
            continue
        if number == 11:
            inputs.append(_value_info(value))
        elif number == 12:
            outputs.append(_value_info(value))
        elif number == 5:  # TensorProto: its name is field 8
            for n2, w2, v2 in _fields(value):
                if n2 == 8 and w2 == 2:
                    initializers.add(_text(v2))
    if not outputs:
        raise _ProtoError("the graph has no outputs")
    return GraphSignature(
        inputs={t.name: t for t in inputs if t.name not in initializers},
        outputs={t.name: t for t in outputs},
        domains=frozenset(domains),
    )


# ---------------------------------------------------------------------------------------
# Cards
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateSpec:
    """A recurrent state of the step model: fed at step t with what ``output`` produced
    at step t - delay (zeros before that)."""

    input: str
    output: str
    shape: tuple[int, ...]
    delay: int


@dataclass(slots=True)
class ModelInfo:
    """A checked model card: what the GUI lists and the generator needs."""

    name: str
    description: str
    architecture: str
    bits_per_note: float | None  # on the test split, from the card
    card_path: Path
    encoding: MelodyEncoding
    receptive_field_steps: int | None
    step_path: Path
    sequence_path: Path | None
    token_input: str
    logits_output: str
    states: tuple[StateSpec, ...]
    sequence_input: str | None
    sequence_output: str | None
    # per state, the sequence graph's output of its last ``delay`` values (priming in
    # one call); empty when the card lists none
    sequence_state_outputs: tuple[str, ...]
    card: dict = field(repr=False)

    @property
    def vocab_size(self) -> int:
        return self.encoding.vocab_size


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _require(card: dict, key: str, kind: type, what: str) -> Any:
    value = card.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ModelError(f"{what}: the card has no valid '{key}'")
    return value


def _positive_ints(values: Any) -> tuple[int, ...] | None:
    if not isinstance(values, list):
        return None
    out = []
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            return None
        out.append(v)
    return tuple(out)


def _check_tensor(sig: GraphSignature, where: str, name: str, elem: int,
                  shape: tuple[int | None, ...], what: str, file: str) -> None:
    """``shape`` lists the expected dimensions; None matches any (the batch, time)."""
    table = sig.inputs if where == "input" else sig.outputs
    t = table.get(name)
    if t is None:
        have = ", ".join(sorted(table)) or "none"
        raise ModelError(f"{what}: {file} has no {where} named '{name}' (it has {have})")
    if t.elem_type != elem:
        raise ModelError(f"{what}: in {file}, {where} '{name}' is "
                         f"{_TYPE_NAMES.get(t.elem_type, t.elem_type)}, the card expects "
                         f"{_TYPE_NAMES[elem]}")
    if t.shape is None:
        return  # the graph does not state the rank; onnxruntime checks at run time
    if len(t.shape) != len(shape) or any(
            want is not None and have is not None and want != have
            for want, have in zip(shape, t.shape)):
        raise ModelError(f"{what}: in {file}, {where} '{name}' has shape "
                         f"{_dims(t.shape)}, the card expects {_dims(shape)}")


def _read_graph(path: Path, what: str) -> GraphSignature:
    try:
        size = path.stat().st_size
        if size > MAX_ONNX_BYTES:
            raise ModelError(f"{what}: {path.name} is larger than "
                             f"{MAX_ONNX_BYTES >> 20} MB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{what}: the ONNX file {path.name} is missing") from None
    except OSError as e:
        raise ModelError(f"{what}: the ONNX file {path.name} cannot be read "
                         f"({e.strerror or e})") from None
    try:
        sig = read_onnx_signature(data)
    except (ValueError, IndexError) as e:
        raise ModelError(f"{what}: the ONNX file {path.name} is damaged ({e})") from None
    unknown = sorted(d for d in sig.domains if d not in KNOWN_DOMAINS)
    if unknown:
        raise ModelError(f"{what}: {path.name} needs custom operators ({', '.join(unknown)}), "
                         f"which Continuo does not load")
    return sig


def read_card(card_path: Path) -> ModelInfo:
    """Read one card and check it against its ONNX files; ModelError says why not."""
    what = card_path.name
    try:
        if card_path.stat().st_size > MAX_CARD_BYTES:
            raise ModelError(f"{what}: the card is larger than {MAX_CARD_BYTES >> 10} KB")
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ModelError(f"{what}: the card cannot be read ({e.strerror or e})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{what}: the card is not valid JSON ({e})") from None
    except RecursionError:  # found by fuzzing: json recurses once per nesting level
        raise ModelError(f"{what}: the card is nested too deeply to be a model card") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ModelError(f"{what}: this is not a Continuo model card")
    if card.get("card_version") != CARD_VERSION:
        raise ModelError(f"{what}: card version {card.get('card_version')!r} is not one this "
                         f"Continuo reads (it reads {CARD_VERSION})")
    name = _require(card, "name", str, what)
    architecture = _require(card, "architecture", str, what)
    if architecture not in ARCHITECTURES:
        raise ModelError(f"{what}: unknown architecture '{architecture}'")
    try:
        encoding = MelodyEncoding.from_card(_require(card, "encoding", dict, what))
    except EncodingError as e:
        raise ModelError(f"{what}: {e}") from None
    except (TypeError, ValueError, OverflowError) as e:  # fuzzing: "vocab_size": null, 1e999
        raise ModelError(f"{what}: the card's encoding has a value of the wrong kind "
                         f"({e})") from None
    if not 1 <= encoding.steps_per_quarter <= 96:  # found by fuzzing: 0 divides by zero later
        raise ModelError(f"{what}: the card's encoding has {encoding.steps_per_quarter} steps "
                         f"per quarter note; a grid has 1 to 96")

    files = _require(card, "files", dict, what)
    hashes = card.get("sha256") or {}
    if not isinstance(hashes, dict):
        raise ModelError(f"{what}: the card's 'sha256' is not a table of file hashes")
    folder = card_path.parent
    paths: dict[str, Path] = {}
    for role in ("step", "sequence"):
        fname = files.get(role)
        if fname is None and role == "sequence":
            continue
        if not isinstance(fname, str) or not fname or Path(fname).name != fname:
            raise ModelError(f"{what}: the card's '{role}' file must be a plain file name")
        path = folder / fname
        try:
            present = path.is_file()
        except OSError:  # found by fuzzing: a 10,000-character name (ENAMETOOLONG)
            present = False
        if not present:
            shown = fname if len(fname) <= 80 else fname[:77] + "..."
            raise ModelError(f"{what}: the ONNX file {shown} is missing")
        expected = hashes.get(fname)
        if not isinstance(expected, str):
            raise ModelError(f"{what}: the card gives no sha256 for {fname}")
        try:
            actual = _sha256(path)
        except OSError as e:
            raise ModelError(f"{what}: the ONNX file {fname} cannot be read "
                             f"({e.strerror or e})") from None
        if actual != expected.lower():
            raise ModelError(f"{what}: the ONNX file {fname} is damaged or was replaced "
                             f"(its sha256 does not match the card)")
        paths[role] = path

    step = _require(card, "step_model", dict, what)
    token_input = _require(step, "token_input", str, what)
    logits_output = _require(step, "logits_output", str, what)
    raw_states = step.get("states")
    if not isinstance(raw_states, list):
        raise ModelError(f"{what}: the card's step model lists no states")
    states = []
    for i, s in enumerate(raw_states):
        shape = _positive_ints(s.get("shape")) if isinstance(s, dict) else None
        delay = s.get("delay") if isinstance(s, dict) else None
        if (shape is None or not isinstance(s.get("input"), str)
                or not isinstance(s.get("output"), str)
                or not isinstance(delay, int) or isinstance(delay, bool) or delay < 1):
            raise ModelError(f"{what}: state {i + 1} of the step model is incomplete "
                             f"(it needs input, output, shape and a delay of at least 1)")
        states.append(StateSpec(s["input"], s["output"], shape, delay))

    vocab = encoding.vocab_size
    step_file = paths["step"].name
    sig = _read_graph(paths["step"], what)
    _check_tensor(sig, "input", token_input, ONNX_INT32, (None,), what, step_file)
    _check_tensor(sig, "output", logits_output, ONNX_FLOAT, (None, vocab), what, step_file)
    for s in states:
        _check_tensor(sig, "input", s.input, ONNX_FLOAT, (None, *s.shape), what, step_file)
        _check_tensor(sig, "output", s.output, ONNX_FLOAT, (None, *s.shape), what, step_file)
    extra = sorted(set(sig.inputs) - {token_input} - {s.input for s in states})
    if extra:
        raise ModelError(f"{what}: {step_file} has inputs the card does not describe "
                         f"({', '.join(extra)})")

    seq_in = seq_out = None
    seq_tails: tuple[str, ...] = ()
    if "sequence" in paths:
        seq = _require(card, "sequence_model", dict, what)
        seq_in = _require(seq, "input", str, what)
        seq_out = _require(seq, "output", str, what)
        seq_file = paths["sequence"].name
        ssig = _read_graph(paths["sequence"], what)
        _check_tensor(ssig, "input", seq_in, ONNX_INT32, (None, None), what, seq_file)
        _check_tensor(ssig, "output", seq_out, ONNX_FLOAT, (None, None, vocab), what, seq_file)
        extra = sorted(set(ssig.inputs) - {seq_in})
        if extra:
            raise ModelError(f"{what}: {seq_file} has inputs the card does not describe "
                             f"({', '.join(extra)})")
        tails = seq.get("state_outputs")
        if tails is not None:
            if (not isinstance(tails, list) or len(tails) != len(states)
                    or not all(isinstance(t, str) for t in tails)):
                raise ModelError(f"{what}: the sequence model's 'state_outputs' must name one "
                                 f"output per state of the step model ({len(states)})")
            for spec, tail in zip(states, tails):
                _check_tensor(ssig, "output", tail, ONNX_FLOAT, (None, spec.delay, *spec.shape),
                              what, seq_file)
            seq_tails = tuple(tails)

    rf = card.get("receptive_field_steps")
    if rf is not None and (not isinstance(rf, int) or isinstance(rf, bool) or rf < 1):
        raise ModelError(f"{what}: 'receptive_field_steps' must be a positive whole number")
    if architecture == "wavenet" and rf is None:
        raise ModelError(f"{what}: a WaveNet card must state its receptive field")
    bpn = None
    metrics = card.get("metrics")
    if isinstance(metrics, dict) and isinstance(metrics.get("test"), dict):
        value = metrics["test"].get("bits_per_note")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            bpn = float(value)
    description = card.get("description")
    return ModelInfo(
        name=name, description=description if isinstance(description, str) else "",
        architecture=architecture, bits_per_note=bpn, card_path=card_path, encoding=encoding,
        receptive_field_steps=rf, step_path=paths["step"], sequence_path=paths.get("sequence"),
        token_input=token_input, logits_output=logits_output, states=tuple(states),
        sequence_input=seq_in, sequence_output=seq_out, sequence_state_outputs=seq_tails,
        card=card,
    )


# ---------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------


def session_options(threads: int = 1, optimization: str = "all", sequential: bool = True):
    """onnxruntime options for one-step, small-batch inference.

    Chosen by measurement (bench/generation.py, ``--options``): with a batch of one to
    eight and matrices of a few hundred columns, one step is tens of microseconds of
    work, so a thread pool only adds wake-up latency (and the machine's other cores are
    busy with the GUI and audio); full graph optimisation fuses the step graph's small
    ops, and sequential execution avoids the parallel executor's scheduling.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = (ort.ExecutionMode.ORT_SEQUENTIAL if sequential
                           else ort.ExecutionMode.ORT_PARALLEL)
    opts.graph_optimization_level = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    # no spinning: a worker that spins between steps steals a core from the GUI
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def _make_session(path: Path, what: str, options=None):
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), sess_options=options or session_options(),
                                    providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{what}: onnxruntime cannot load {path.name} ({reason[:300]})") from None


def _ring_length(delay: int) -> int:
    """The power of two above ``delay``: enough slots for a state of that delay."""
    return 1 << delay.bit_length()


class StepState:
    """The recurrent state of a batch, in buffers that onnxruntime reads and writes.

    Every state has a ring of buffers, as many as the power of two above its delay
    (2 for an LSTM's, 128 for a WaveNet's delay of 64).  The output of step ``s`` goes
    to slot ``s % ring`` and the input of step ``t`` is slot ``(t - delay) % ring``: the
    value produced at step ``t - delay``, or zeros before that.  Input and output are
    never the same buffer.  Every ring divides the longest, ``slots``, so the bindings
    repeat with period ``slots``; and a short delay keeps a short ring, whose buffers
    stay in the cache (one ring length for all states cost the duet model 3-6% of each
    step).

    The buffers are numpy arrays that onnxruntime uses in place (OrtValues over their
    memory), and one IOBinding per ring phase is bound once, so a step is a write of
    the tokens, one run and a copy of the logits: no feeds to convert, no outputs to
    allocate.  Measured on the shipped-size models this saves a fifth of each step.
    """

    __slots__ = ("t", "batch", "slots", "buffers", "tokens", "logits", "bindings", "_values")

    def __init__(self, batch: int, slots: int, buffers: list[np.ndarray], tokens: np.ndarray,
                 logits: np.ndarray, bindings: list, values: list) -> None:
        self.t = 0
        self.batch = batch
        self.slots = slots  # the period of the bindings: the longest ring
        self.buffers = buffers  # per state: [ring, batch, *shape] float32
        self.tokens = tokens  # [batch] int32, bound as the token input
        self.logits = logits  # [batch, vocab] float32, bound as the logits output
        self.bindings = bindings  # one IOBinding per phase t % slots
        self._values = values  # the OrtValues over the buffers, kept alive with them

    def reset(self) -> None:
        self.t = 0
        for b in self.buffers:
            b.fill(0.0)


class StepModel:
    """One usable model: its card, and onnxruntime sessions created on first use.

    Bound states are expensive to set up for a WaveNet (one IOBinding per ring phase),
    so released ones are kept, per batch size, for the next generation.
    """

    MAX_FREE_STATES = 4

    def __init__(self, info: ModelInfo, options=None) -> None:
        self.info = info
        self._options = options
        self._step_session = None
        self._seq_session = None
        self._lock = threading.Lock()
        self._free: dict[int, list[StepState]] = {}
        self._rings = [_ring_length(s.delay) for s in info.states]
        self._slots = max(self._rings, default=1)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def encoding(self) -> MelodyEncoding:
        return self.info.encoding

    def _session(self):
        if self._step_session is None:
            with self._lock:
                if self._step_session is None:
                    self._step_session = _make_session(self.info.step_path,
                                                       self.info.card_path.name, self._options)
        return self._step_session

    def _sequence_session(self):
        if self.info.sequence_path is None:
            raise ModelError(f"{self.info.card_path.name}: the model has no sequence graph, "
                             f"so it cannot score files")
        if self._seq_session is None:
            with self._lock:
                if self._seq_session is None:
                    self._seq_session = _make_session(self.info.sequence_path,
                                                      self.info.card_path.name, self._options)
        return self._seq_session

    def load(self) -> "StepModel":
        """Create the sessions a generation needs now (they are otherwise created on
        first use): the step session, and the sequence session when it primes."""
        self._session()
        if self.info.sequence_state_outputs:
            self._sequence_session()
        return self

    def _new_state(self, batch: int) -> StepState:
        import onnxruntime as ort

        session = self._session()
        info, slots = self.info, self._slots
        wrap = ort.OrtValue.ortvalue_from_numpy  # shares the numpy memory on the CPU
        tokens = np.zeros(batch, dtype=np.int32)
        logits = np.zeros((batch, info.vocab_size), dtype=np.float32)
        buffers = [np.zeros((ring, batch, *s.shape), dtype=np.float32)
                   for s, ring in zip(info.states, self._rings)]
        token_value, logits_value = wrap(tokens), wrap(logits)
        ring_values = [[wrap(slot) for slot in b] for b in buffers]
        bindings = []
        for phase in range(slots):
            io = session.io_binding()
            io.bind_ortvalue_input(info.token_input, token_value)
            io.bind_ortvalue_output(info.logits_output, logits_value)
            for spec, values in zip(info.states, ring_values):
                io.bind_ortvalue_input(spec.input, values[(phase - spec.delay) % len(values)])
                io.bind_ortvalue_output(spec.output, values[phase % len(values)])
            bindings.append(io)
        return StepState(batch, slots, buffers, tokens, logits, bindings,
                         [token_value, logits_value, ring_values])

    def initial_state(self, batch: int) -> StepState:
        """A zero state for ``batch`` rows (give it back with :meth:`release`)."""
        with self._lock:
            free = self._free.get(batch)
            state = free.pop() if free else None
        if state is None:
            return self._new_state(batch)
        state.reset()
        return state

    def release(self, state: StepState) -> None:
        """Keep a state that is no longer used for a later generation."""
        with self._lock:
            free = self._free.setdefault(state.batch, [])
            if len(free) < self.MAX_FREE_STATES and all(s is not state for s in free):
                free.append(state)

    def step(self, tokens: np.ndarray, state: StepState, copy: bool = True) -> np.ndarray:
        """Feed one token per batch row; returns the logits [batch, vocab] for the next
        token and advances ``state`` in place.  With ``copy=False`` the logits are the
        state's own buffer, which the next step overwrites."""
        state.tokens[:] = tokens
        self._step_session.run_with_iobinding(state.bindings[state.t % state.slots])
        state.t += 1
        return state.logits.copy() if copy else state.logits

    def tiled(self, state: StepState, batch: int) -> StepState:
        """A new state of ``batch`` rows, each a copy of ``state``'s one row."""
        if state.batch != 1:
            raise ValueError("only a state of batch 1 can be tiled")
        out = self.initial_state(batch)
        for dst, src in zip(out.buffers, state.buffers):
            dst[:] = src  # broadcast over the batch axis
        out.t = state.t
        return out

    def prime(self, tokens: Sequence[int], batch: int = 1, *,
              stepwise: bool = False) -> tuple[np.ndarray | None, StepState]:
        """Run ``tokens`` once through the model and return the logits after the last one
        ([batch, vocab], None for no tokens) and the state, ``batch`` identical rows.

        When the card's sequence graph gives the states (``state_outputs``), that is one
        sequence-graph call; otherwise (or with ``stepwise``) one step-model call per
        token at batch 1.  Both leave the same state (tests compare them)."""
        if len(tokens) and self.info.sequence_state_outputs and not stepwise:
            return self._prime_from_sequence(tokens, batch)
        state = self.initial_state(1)
        logits = None
        one = np.zeros(1, dtype=np.int32)
        for tok in tokens:
            one[0] = tok
            logits = self.step(one, state)
        if batch != 1:
            tiled = self.tiled(state, batch)
            self.release(state)
            state = tiled
            if logits is not None:
                logits = np.repeat(logits, batch, axis=0)
        return logits, state

    def _prime_from_sequence(self, tokens: Sequence[int],
                             batch: int) -> tuple[np.ndarray, StepState]:
        """One sequence-graph call; each state's last ``delay`` values go into the ring
        slots where stepping would have left them (step s writes slot s % ring)."""
        info = self.info
        session = self._sequence_session()
        feed = np.asarray(tokens, dtype=np.int32)[None, :]
        results = session.run([info.sequence_output, *info.sequence_state_outputs],
                              {info.sequence_input: feed})
        n = feed.shape[1]
        state = self.initial_state(batch)
        for spec, buffer, tail in zip(info.states, state.buffers, results[1:]):
            if tail.shape != (1, spec.delay, *spec.shape):
                self.release(state)
                raise ModelError(f"{info.card_path.name}: the sequence graph's output for "
                                 f"state {spec.input} has shape {list(tail.shape)}, not "
                                 f"[1, {spec.delay}, {', '.join(map(str, spec.shape))}]")
            steps = np.arange(n - spec.delay, n)
            kept = steps >= 0  # earlier entries are the zeros before the first step
            # broadcast over the batch: every row starts from the same seed
            buffer[steps[kept] % len(buffer)] = tail[0, kept][:, None]
        state.t = n
        return np.repeat(results[0][:, -1], batch, axis=0), state

    def sequence_logits(self, tokens: np.ndarray) -> np.ndarray:
        """The sequence graph: tokens [batch, time] -> logits [batch, time, vocab];
        ``logits[:, t]`` predicts token t + 1."""
        session = self._sequence_session()
        tokens = np.ascontiguousarray(np.atleast_2d(tokens), dtype=np.int32)
        return session.run([self.info.sequence_output], {self.info.sequence_input: tokens})[0]

    def score_tokens(self, tokens: Sequence[int]) -> tuple[float, int, int]:
        """Bits of one tune's tokens under the model, as docs/model-contract.md defines
        them: ``-log2 p(token)`` summed over every token after the first.  Returns
        (bits, tokens scored, NOTE_ON tokens among them)."""
        tokens = np.asarray(tokens, dtype=np.int32)
        if tokens.ndim != 1 or len(tokens) < 2:
            return 0.0, 0, 0
        logits = self.sequence_logits(tokens[None, :-1])[0].astype(np.float64)
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        targets = tokens[1:]
        nats = log_z - logits[np.arange(len(targets)), targets]
        notes = int(np.count_nonzero(targets >= FIRST_NOTE_ON))
        return float(nats.sum() / np.log(2.0)), len(targets), notes


# ---------------------------------------------------------------------------------------
# The library
# ---------------------------------------------------------------------------------------


class ModelLibrary:
    """Every usable model in the model folders, and one line per refused card.

    A name found in several folders: the first folder wins (the shipped models come
    first by default) and the others are listed as problems.
    """

    def __init__(self, folders: Sequence[Path | str] | None = None, session_opts=None) -> None:
        if folders is None:
            folders = [REPO_MODELS_DIR, user_models_dir()]
        self.folders = [Path(f) for f in folders]
        self._session_opts = session_opts
        self._lock = threading.Lock()
        self._loaded: dict[str, StepModel] = {}
        self._infos: dict[str, ModelInfo] = {}
        self.models: list[ModelInfo] = []
        self.problems: list[str] = []
        self.refresh()

    def refresh(self) -> None:
        """Read the folders again; sessions of unchanged models are kept."""
        infos: dict[str, ModelInfo] = {}
        problems: list[str] = []
        for folder in self.folders:
            try:
                cards = sorted(p for p in folder.glob("*.json") if p.is_file())
            except OSError:
                continue  # a missing or unreadable folder simply has no models
            for card_path in cards:
                try:
                    info = read_card(card_path)
                except ModelError as e:
                    problems.append(str(e))
                    continue
                except ContinuoError as e:
                    problems.append(f"{card_path.name}: {e}")
                    continue
                except Exception as e:  # a card bug must not take every other model down
                    problems.append(f"{card_path.name}: the card cannot be read "
                                    f"({type(e).__name__}: {str(e)[:200]})")
                    continue
                if info.name in infos:
                    problems.append(f"{card_path}: a model named '{info.name}' was already "
                                    f"found in {infos[info.name].card_path.parent}; this one "
                                    f"is ignored")
                    continue
                infos[info.name] = info
        # keep the sessions of models whose card and files did not change
        kept = {}
        for name, model in self._loaded.items():
            new = infos.get(name)
            if (new is not None and new.card == model.info.card
                    and new.card_path == model.info.card_path):
                kept[name] = model
        self._loaded = kept
        self._infos = infos
        self.models = [infos[n] for n in sorted(infos)]
        self.problems = problems

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def info(self, name: str) -> ModelInfo:
        try:
            return self._infos[name]
        except KeyError:
            known = ", ".join(self.names) or "none"
            raise ModelError(f"there is no model named '{name}' (models: {known})") from None

    def get(self, name: str) -> StepModel:
        """The model with its onnxruntime session (created on first use)."""
        with self._lock:  # generation workers may ask from several threads
            model = self._loaded.get(name)
            if model is None:
                model = StepModel(self.info(name), self._session_opts)
                try:
                    model.load()
                except ModelError as e:
                    # onnxruntime refused a file that looked right: list it as refused
                    self._infos.pop(name, None)
                    self.models = [m for m in self.models if m.name != name]
                    self.problems.append(str(e))
                    raise
                self._loaded[name] = model
            return model
