"""The model card: the one schema that training writes and the engine reads.

A model is ``<name>.json`` (its card, see docs/model-contract.md) beside the ONNX files
it names.  :func:`make_card` builds a card for files already written (training's export
and ensemble write through it, with :func:`write_card`); :func:`read_card` checks a card
against its files before anyone asks for the model: the files' sha256, the encoding
(any registered one, see :mod:`engine.encodings`), and the ONNX graphs' input and
output names, element types and shapes.  A card that fails any check is refused with
one line (a ModelError).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from engine.encodings import Encoding, encoding_from_card
from engine.errors import EncodingError, ModelError
from engine.models.conditioning import ConditioningInput, conditioning_from_card
from engine.models.onnx_signature import ONNX_FLOAT, ONNX_INT32, check_tensor, read_graph

CARD_FORMAT = "continuo-model-card"
CARD_VERSION = 1
MAX_CARD_BYTES = 1 << 20
KNOWN_JOBS = ("continue", "fill")  # a card without "jobs" continues


@dataclass(frozen=True, slots=True)
class StateSpec:
    """A recurrent state of the step model: fed at step t with what ``output`` produced
    at step t - delay (zeros before that)."""

    input: str
    output: str
    shape: tuple[int, ...]
    delay: int

    def card(self) -> dict:
        """The state as the card's ``step_model.states`` lists it."""
        return {"input": self.input, "output": self.output, "shape": list(self.shape),
                "delay": self.delay}


@dataclass(slots=True)
class ModelCard:
    """A checked model card: what the GUI lists and the generator needs."""

    name: str
    description: str
    architecture: str
    bits_per_note: float | None  # on the test split, from the card
    card_path: Path
    encoding: Encoding
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
    # what the model was trained to do: "continue" (every model), "fill" (a gap)
    jobs: tuple[str, ...] = ("continue",)
    # the step model's named per-step inputs besides the token (none for most models)
    conditioning: tuple[ConditioningInput, ...] = ()
    # the motif memory's mixing chosen for this model (the card's "memory" section,
    # Mixing's fields: see memory_section); None: the engine's default mixing
    memory: dict[str, Any] | None = None

    @property
    def vocab_size(self) -> int:
        return self.encoding.vocab_size


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, as cards quote their ONNX files."""
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


def _is_number(value: Any) -> bool:
    try:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    except OverflowError:  # an integer too large for a float
        return False


def _positive_ints(values: Any) -> tuple[int, ...] | None:
    if not isinstance(values, list):
        return None
    out = []
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            return None
        out.append(v)
    return tuple(out)


# ---- writing ----------------------------------------------------------------------------

TOKEN_INPUT, LOGITS_OUTPUT = "token", "logits"  # the step graph's names
SEQUENCE_INPUT, SEQUENCE_OUTPUT = "tokens", "logits"  # the sequence graph's


def make_card(name: str, architecture: str, description: str, files: dict[str, str],
              folder: Path, encoding: Encoding, states: Sequence[StateSpec], *,
              state_outputs: Sequence[str] | None = None,
              receptive_field_steps: int | None = None, jobs: Sequence[str] | None = None,
              conditioning: Sequence[ConditioningInput] = (), **extra: Any) -> dict[str, Any]:
    """The card of a model whose ONNX files (``files``: role -> file name, ``step`` and
    optionally ``sequence``) are already in ``folder``: their sha256, the encoding's
    section, the graphs' names and states, and after those ``extra`` (hyperparameters,
    parameters, data, metrics, training, keras), in the order given.  ``state_outputs``
    names the sequence graph's output per state (priming in one call; None: none);
    ``jobs`` what the model does (None: not written, which reads as continue only);
    ``conditioning`` the step graph's per-step inputs besides the token (none: the
    section is not written)."""
    folder = Path(folder)
    card: dict[str, Any] = {
        "format": CARD_FORMAT, "card_version": CARD_VERSION,
        "name": name, "architecture": architecture, "description": description,
        **({"jobs": list(jobs)} if jobs is not None else {}),
        "files": dict(files),
        "sha256": {f: sha256_file(folder / f) for f in files.values()},
        "encoding": encoding.card(),
        "step_model": {"token_input": TOKEN_INPUT, "logits_output": LOGITS_OUTPUT,
                       "states": [s.card() for s in states]},
    }
    if conditioning:
        card["step_model"]["conditioning"] = [c.card() for c in conditioning]
    if "sequence" in files:
        sequence_model: dict[str, Any] = {"input": SEQUENCE_INPUT, "output": SEQUENCE_OUTPUT}
        if state_outputs:
            sequence_model["state_outputs"] = list(state_outputs)
        card["sequence_model"] = sequence_model
    card["receptive_field_steps"] = receptive_field_steps
    card.update(extra)
    return card


def write_card(card: dict[str, Any], path: Path) -> None:
    """Write a card as the models folder keeps it: indented JSON, atomically, readable
    by everyone."""
    import os

    from engine.formats.atomic import write_bytes_atomic

    write_bytes_atomic(path, (json.dumps(card, indent=2) + "\n").encode("utf-8"))
    os.chmod(path, 0o644)


def states_from_card(card: dict) -> list[StateSpec]:
    """The step model's states as a (trusted, training-written) card lists them."""
    return [StateSpec(s["input"], s["output"], tuple(s["shape"]), int(s["delay"]))
            for s in card["step_model"]["states"]]


# ---- reading ----------------------------------------------------------------------------

# the card's "memory" section: the motif memory's mixing chosen for the model (written by
# ``python -m training.studies.memory_sweep``); each field is engine.generation.memory.Mixing's
_MEMORY_FIELDS = {"method": str, "weight": float, "bias": float, "max_order": int,
                  "table": (float,), "network_tokens": (int,), "generation_power": float,
                  "phase_period": int, "phrase": (float,)}
# the values a mixing can use (a share is a probability; the memory's step and size grow
# with the order); network_tokens are tokens of the vocabulary
_MEMORY_RANGES = {"weight": (0.0, 1.0), "table": (0.0, 1.0), "phrase": (-20.0, 20.0),
                  "max_order": (1, 64),
                  "generation_power": (0.01, 10.0), "phase_period": (1, 96),
                  "bias": (-100.0, 100.0)}


def memory_section(section: Any, what: str, vocab: int | None = None) -> dict[str, Any] | None:
    """A card's ``memory`` section as the mixing's fields (numbers as floats, lists as
    tuples; records such as ``bits_per_note`` left out); None when the card has none.
    It needs a ``method`` and a ``max_order``; the other fields default as Mixing's.
    ``vocab``: the vocabulary's size, which ``network_tokens`` must lie inside."""
    if section is None:
        return None
    if not isinstance(section, dict) or not isinstance(section.get("method"), str) \
            or "max_order" not in section:
        raise ModelError(f"{what}: the card's 'memory' section needs a method and a max_order")
    out: dict[str, Any] = {}
    for key, kind in _MEMORY_FIELDS.items():
        if key not in section:
            continue
        value = section[key]
        if kind is str:
            out[key] = value
            continue
        values = value if isinstance(kind, tuple) else [value]
        number = kind[0] if isinstance(kind, tuple) else kind
        if not isinstance(values, list) or not all(
                _is_number(v) and (number is float or float(v).is_integer()) for v in values):
            raise ModelError(f"{what}: the card's memory '{key}' has a value of the wrong "
                             f"kind")
        converted = tuple(number(v) for v in values)
        low, high = (0, (vocab or 1 << 20) - 1) if key == "network_tokens" else \
            _MEMORY_RANGES.get(key, (None, None))
        if low is not None and not all(low <= v <= high for v in converted):
            raise ModelError(f"{what}: the card's memory '{key}' is outside {low:g}..{high:g}")
        out[key] = converted if isinstance(kind, tuple) else converted[0]
    return out


def _native_grid(encoding: Encoding) -> int | None:
    """The steps per quarter note that ``encoding``'s kind is trained on: training makes
    every encoding with its defaults (training/corpus.py), so a card that says otherwise
    was edited by hand.  None when the kind has no default to compare with."""
    try:
        return int(type(encoding)().steps_per_quarter)
    except Exception:  # noqa: BLE001 - a kind whose constructor needs arguments
        return None


def _check_grid(encoding: Encoding, what: str) -> None:
    """The card's grid against its encoding's (issue 23: a card with
    "steps_per_quarter": 96 on a 4-step network was accepted and listed)."""
    native = _native_grid(encoding)
    if native is not None and encoding.steps_per_quarter != native:
        raise ModelError(f"{what}: the card says {encoding.steps_per_quarter} steps per "
                         f"quarter note, but encoding {encoding.name} is a grid of {native} "
                         f"(its network was trained on that grid)")


def _check_token_names(encoding: Encoding, section: dict, what: str) -> None:
    """The card's list of tokens against its encoding's: a pitch range moved with the
    vocabulary's size kept shows only here."""
    tokens = section.get("tokens")
    if tokens is None:
        return  # older cards do not list them
    names = encoding.token_names()
    if not isinstance(tokens, list):
        raise ModelError(f"{what}: the card's encoding 'tokens' is not a list of names")
    if len(tokens) != len(names):
        count = len(tokens)
        raise ModelError(f"{what}: the card's vocabulary lists {count} tokens, but its encoding "
                         f"({encoding.name}, pitches {encoding.min_pitch}-"
                         f"{encoding.max_pitch}) has {len(names)}")
    for i, (said, meant) in enumerate(zip(tokens, names)):
        if said != meant:
            raise ModelError(f"{what}: the card's token {i} is {str(said)[:40]!r}, but its "
                             f"encoding ({encoding.name}, pitches {encoding.min_pitch}-"
                             f"{encoding.max_pitch}) has {meant!r} there")


def _check_vocabulary_width(sig, logits_output: str, vocab: int, encoding: Encoding,
                            what: str, step_file: str) -> None:
    """The step graph's logits are one per token of the vocabulary: say so in words
    when they disagree (check_tensor then checks the rest of the shape)."""
    out = sig.outputs.get(logits_output)
    shape = out.shape if out is not None else None
    if shape and len(shape) == 2 and isinstance(shape[1], int) and shape[1] != vocab:
        raise ModelError(f"{what}: the network in {step_file} has a vocabulary of {shape[1]} "
                         f"tokens (output '{logits_output}'), but the card's encoding "
                         f"({encoding.name}, pitches {encoding.min_pitch}-"
                         f"{encoding.max_pitch}) has {vocab}: the card and the graph "
                         f"disagree")


def _load_card(card_path: Path, what: str) -> dict:
    """The card's JSON, of this format and version."""
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
    return card


def _read_encoding(card: dict, what: str) -> Encoding:
    """The card's encoding, on a grid its kind was trained on."""
    try:
        encoding = encoding_from_card(_require(card, "encoding", dict, what))
    except EncodingError as e:
        raise ModelError(f"{what}: {e}") from None
    except (TypeError, ValueError, OverflowError) as e:  # fuzzing: "vocab_size": null, 1e999
        raise ModelError(f"{what}: the card's encoding has a value of the wrong kind "
                         f"({e})") from None
    if not 1 <= encoding.steps_per_quarter <= 96:  # found by fuzzing: 0 divides by zero later
        raise ModelError(f"{what}: the card's encoding has {encoding.steps_per_quarter} steps "
                         f"per quarter note; a grid has 1 to 96")
    _check_grid(encoding, what)
    return encoding


def _checked_file(role: str, fname: Any, folder: Path, hashes: dict, what: str) -> Path:
    """One ONNX file the card names: a plain name, present, and of the card's sha256."""
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
        actual = sha256_file(path)
    except OSError as e:
        raise ModelError(f"{what}: the ONNX file {fname} cannot be read "
                         f"({e.strerror or e})") from None
    if actual != expected.lower():
        raise ModelError(f"{what}: the ONNX file {fname} is damaged or was replaced "
                         f"(its sha256 does not match the card)")
    return path


def _checked_files(card: dict, folder: Path, what: str) -> dict[str, Path]:
    """The card's ONNX files by role (``step``, and ``sequence`` when it names one)."""
    files = _require(card, "files", dict, what)
    hashes = card.get("sha256") or {}
    if not isinstance(hashes, dict):
        raise ModelError(f"{what}: the card's 'sha256' is not a table of file hashes")
    paths: dict[str, Path] = {}
    for role in ("step", "sequence"):
        fname = files.get(role)
        if fname is None and role == "sequence":
            continue
        paths[role] = _checked_file(role, fname, folder, hashes, what)
    return paths


def _read_states(step: dict, what: str) -> list[StateSpec]:
    """The step model's states as the card lists them, each complete."""
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
    return states


@dataclass(frozen=True, slots=True)
class _StepSection:
    """What the card's ``step_model`` says the step graph takes and gives."""

    token_input: str
    logits_output: str
    states: tuple[StateSpec, ...]
    conditioning: tuple[ConditioningInput, ...]


def _read_step_section(card: dict, what: str) -> _StepSection:
    step = _require(card, "step_model", dict, what)
    token_input = _require(step, "token_input", str, what)
    logits_output = _require(step, "logits_output", str, what)
    states = _read_states(step, what)
    reserved = {token_input} | {s.input for s in states}
    conditioning = conditioning_from_card(step, reserved, what)
    return _StepSection(token_input, logits_output, tuple(states), conditioning)


def _check_step_graph(card: dict, path: Path, section: _StepSection, encoding: Encoding,
                      what: str) -> None:
    """The step graph's inputs and outputs against the card: the token, the logits (one
    per token of the vocabulary), each state, each conditioning input, and nothing
    else."""
    vocab = encoding.vocab_size
    step_file = path.name
    sig = read_graph(path, what)
    _check_vocabulary_width(sig, section.logits_output, vocab, encoding, what, step_file)
    _check_token_names(encoding, card["encoding"], what)
    check_tensor(sig, "input", section.token_input, ONNX_INT32, (None,), what, step_file)
    check_tensor(sig, "output", section.logits_output, ONNX_FLOAT, (None, vocab), what,
                 step_file)
    for s in section.states:
        check_tensor(sig, "input", s.input, ONNX_FLOAT, (None, *s.shape), what, step_file)
        check_tensor(sig, "output", s.output, ONNX_FLOAT, (None, *s.shape), what, step_file)
    for c in section.conditioning:
        check_tensor(sig, "input", c.input, c.onnx_type, (None, *c.shape), what, step_file)
    extra = sorted(set(sig.inputs) - {section.token_input} - {s.input for s in section.states}
                   - {c.input for c in section.conditioning})
    if extra:
        raise ModelError(f"{what}: {step_file} has inputs the card does not describe "
                         f"({', '.join(extra)})")


@dataclass(frozen=True, slots=True)
class _SequenceSection:
    input: str | None = None
    output: str | None = None
    state_outputs: tuple[str, ...] = ()


def _check_sequence_graph(card: dict, path: Path, section: _StepSection, vocab: int,
                          what: str) -> _SequenceSection:
    """The sequence graph against the card: tokens in, logits out, the conditioning
    inputs over time, and the optional state tails (priming in one call)."""
    seq = _require(card, "sequence_model", dict, what)
    seq_in = _require(seq, "input", str, what)
    seq_out = _require(seq, "output", str, what)
    seq_file = path.name
    ssig = read_graph(path, what)
    check_tensor(ssig, "input", seq_in, ONNX_INT32, (None, None), what, seq_file)
    check_tensor(ssig, "output", seq_out, ONNX_FLOAT, (None, None, vocab), what, seq_file)
    for c in section.conditioning:
        check_tensor(ssig, "input", c.input, c.onnx_type, (None, None, *c.shape), what,
                     seq_file)
    extra = sorted(set(ssig.inputs) - {seq_in} - {c.input for c in section.conditioning})
    if extra:
        raise ModelError(f"{what}: {seq_file} has inputs the card does not describe "
                         f"({', '.join(extra)})")
    tails = seq.get("state_outputs")
    if tails is None:
        return _SequenceSection(seq_in, seq_out)
    states = section.states
    if (not isinstance(tails, list) or len(tails) != len(states)
            or not all(isinstance(t, str) for t in tails)):
        raise ModelError(f"{what}: the sequence model's 'state_outputs' must name one "
                         f"output per state of the step model ({len(states)})")
    for spec, tail in zip(states, tails):
        check_tensor(ssig, "output", tail, ONNX_FLOAT, (None, spec.delay, *spec.shape),
                     what, seq_file)
    return _SequenceSection(seq_in, seq_out, tuple(tails))


def _read_figures(card: dict, what: str) -> tuple[int | None, float | None, tuple[str, ...]]:
    """The receptive field, the test split's bits per note and the jobs."""
    rf = card.get("receptive_field_steps")
    if rf is not None and (not isinstance(rf, int) or isinstance(rf, bool) or rf < 1):
        raise ModelError(f"{what}: 'receptive_field_steps' must be a positive whole number")
    bpn = None
    metrics = card.get("metrics")
    if isinstance(metrics, dict) and isinstance(metrics.get("test"), dict):
        value = metrics["test"].get("bits_per_note")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            bpn = float(value)
    jobs = card.get("jobs", ["continue"])
    if (not isinstance(jobs, list) or not jobs
            or not all(isinstance(j, str) and j in KNOWN_JOBS for j in jobs)):
        raise ModelError(f"{what}: the card's 'jobs' must list some of "
                         f"{', '.join(KNOWN_JOBS)}")
    return rf, bpn, tuple(dict.fromkeys(jobs))


def read_card(card_path: Path) -> ModelCard:
    """Read one card and check it against its ONNX files; ModelError says why not."""
    what = card_path.name
    card = _load_card(card_path, what)
    name = _require(card, "name", str, what)
    architecture = _require(card, "architecture", str, what)
    if not architecture.strip():
        raise ModelError(f"{what}: the card names no architecture")
    encoding = _read_encoding(card, what)
    paths = _checked_files(card, card_path.parent, what)
    step = _read_step_section(card, what)
    _check_step_graph(card, paths["step"], step, encoding, what)
    seq = (_check_sequence_graph(card, paths["sequence"], step, encoding.vocab_size, what)
           if "sequence" in paths else _SequenceSection())
    rf, bpn, jobs = _read_figures(card, what)
    memory = memory_section(card.get("memory"), what, encoding.vocab_size)
    description = card.get("description")
    return ModelCard(
        name=name, description=description if isinstance(description, str) else "",
        architecture=architecture, bits_per_note=bpn, card_path=card_path, encoding=encoding,
        receptive_field_steps=rf, step_path=paths["step"], sequence_path=paths.get("sequence"),
        token_input=step.token_input, logits_output=step.logits_output, states=step.states,
        sequence_input=seq.input, sequence_output=seq.output,
        sequence_state_outputs=seq.state_outputs, card=card, jobs=jobs,
        conditioning=step.conditioning, memory=memory,
    )
