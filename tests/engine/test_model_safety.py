"""Nothing in a models folder can break the other models or make Continuo run code.

Each test copies the shipped models (models/*.json and their ONNX files) into a fresh
folder, damages one model in one way, and checks three things: the damaged one is
refused with one line that names its card, the other model is still listed, and the
other model still runs (a few real onnxruntime steps).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.errors import ModelError
from engine.models import ModelLibrary, read_card

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models"


def _cards() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(SHIPPED.glob("*.json"))}


pytestmark = pytest.mark.skipif(len(_cards()) < 2, reason="needs two shipped models")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A user models folder holding copies of every shipped model."""
    out = tmp_path / "models"
    out.mkdir()
    for p in SHIPPED.iterdir():
        if p.is_file() and p.suffix in (".json", ".onnx"):
            shutil.copyfile(p, out / p.name)
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _victim_and_survivor() -> tuple[str, str]:
    """Two melody cards (the first two by name): the bad cards below are melody cards with
    one thing wrong, such as its pitch range, which a drum card does not have."""
    names = sorted(n for n, c in _cards().items() if c["encoding"]["name"] == "melody-16th")
    return names[0], names[1]


def _write_card(folder: Path, stem: str, card: dict) -> Path:
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(card))
    return path


def _assert_only_victim_refused(folder: Path, victim_card: str, match: str) -> None:
    """The one damaged card is refused with a clear line; the other model still
    lists and runs."""
    library = ModelLibrary([folder])
    _, survivor = _victim_and_survivor()
    survivor_name = _cards()[survivor]["name"]
    assert survivor_name in library.names
    lines = [p for p in library.problems if victim_card in p]
    if not lines:  # refused on first use instead (onnxruntime itself said no)
        victim_name = next((c["name"] for s, c in _cards().items()
                            if f"{s}.json" == victim_card), None)
        assert victim_name in library.names, library.problems
        with pytest.raises(ModelError, match=re.escape(victim_card)):
            library.get(victim_name)
        lines = [p for p in library.problems if victim_card in p]
    assert len(lines) == 1, library.problems
    assert re.search(match, lines[0]), lines[0]
    model = library.get(survivor_name)
    logits, state = model.prime([2, 0, 0, 1, 5, 0])
    assert logits.shape == (1, model.info.vocab_size) and np.all(np.isfinite(logits))
    model.release(state)


# ---------------------------------------------------------------------------------------
# damaged ONNX files
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.5, 0.01, 0.999])
def test_truncated_onnx_refused_by_its_hash(folder: Path, keep: float) -> None:
    victim, _ = _victim_and_survivor()
    onnx = folder / _cards()[victim]["files"]["step"]
    data = onnx.read_bytes()
    onnx.write_bytes(data[: int(len(data) * keep)])
    _assert_only_victim_refused(folder, f"{victim}.json", "damaged or was replaced")


@pytest.mark.parametrize("keep", [0.5, 0.01, 0.999])
def test_truncated_onnx_refused_even_when_the_card_hash_was_updated(folder: Path,
                                                                    keep: float) -> None:
    """A hash recomputed over a damaged file: the graph itself must still be refused."""
    victim, _ = _victim_and_survivor()
    card = _cards()[victim]
    onnx = folder / card["files"]["step"]
    data = onnx.read_bytes()
    onnx.write_bytes(data[: int(len(data) * keep)])
    card["sha256"][onnx.name] = _sha(onnx)
    _write_card(folder, victim, card)
    _assert_only_victim_refused(folder, f"{victim}.json", "damaged|onnxruntime cannot load")


@pytest.mark.parametrize("where", [0, 1, 16, 64, 200])
def test_corrupted_onnx_header_with_an_updated_hash_is_refused(folder: Path, where: int) -> None:
    """Flipped bytes in the protobuf's first fields (where the graph and its names
    live); the hash is made to match, so only the graph checks can catch it."""
    victim, _ = _victim_and_survivor()
    card = _cards()[victim]
    onnx = folder / card["files"]["step"]
    data = bytearray(onnx.read_bytes())
    for i in range(where, where + 8):
        data[i] ^= 0xFF
    onnx.write_bytes(bytes(data))
    card["sha256"][onnx.name] = _sha(onnx)
    _write_card(folder, victim, card)
    library = ModelLibrary([folder])
    _, survivor = _victim_and_survivor()
    assert _cards()[survivor]["name"] in library.names
    victim_name = card["name"]
    if victim_name in library.names:  # the checks passed: onnxruntime must load or refuse
        try:
            library.get(victim_name)
        except ModelError as e:
            assert f"{victim}.json" in str(e)
    else:
        assert any(f"{victim}.json" in p for p in library.problems), library.problems


def test_a_pickle_named_as_the_step_file_is_never_unpickled(folder: Path) -> None:
    """Bytes that start like a Python pickle, given as the ONNX file with a matching
    hash: refused as a damaged graph; nothing in Continuo unpickles."""
    victim, _ = _victim_and_survivor()
    card = _cards()[victim]
    evil = folder / "evil.pkl"
    evil.write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.")
    card["files"]["step"] = evil.name
    card["sha256"][evil.name] = _sha(evil)
    _write_card(folder, victim, card)
    _assert_only_victim_refused(folder, f"{victim}.json", "damaged|onnxruntime cannot load")


# ---------------------------------------------------------------------------------------
# cards that do not match their files
# ---------------------------------------------------------------------------------------


def test_card_pointing_at_the_other_models_graphs_is_refused(folder: Path) -> None:
    """Both files are real, intact ONNX graphs with correct hashes, but of the other
    architecture: the input and output names or shapes give it away."""
    victim, survivor = _victim_and_survivor()
    card = _cards()[victim]
    other = _cards()[survivor]
    card["files"] = dict(other["files"])
    card["sha256"] = dict(other["sha256"])
    _write_card(folder, victim, card)
    _assert_only_victim_refused(folder, f"{victim}.json", "has no (input|output) named|shape|"
                                "inputs the card does not describe")


def test_card_with_a_wrong_state_shape_is_refused(folder: Path) -> None:
    victim, _ = _victim_and_survivor()
    card = _cards()[victim]
    state = card["step_model"]["states"][0]
    state["shape"] = [s + 1 for s in state["shape"]]
    _write_card(folder, victim, card)
    _assert_only_victim_refused(folder, f"{victim}.json", "shape")


def test_card_with_a_wrong_vocabulary_is_refused(folder: Path) -> None:
    victim, _ = _victim_and_survivor()
    card = _cards()[victim]
    card["encoding"]["max_pitch"] = card["encoding"]["max_pitch"] + 5
    card["encoding"].pop("vocab_size", None)
    _write_card(folder, victim, card)
    _assert_only_victim_refused(folder, f"{victim}.json", "shape|vocabulary")


# ---------------------------------------------------------------------------------------
# missing fields and wrong types
# ---------------------------------------------------------------------------------------

REQUIRED = [("format",), ("card_version",), ("name",), ("architecture",), ("encoding",),
            ("encoding", "min_pitch"), ("encoding", "name"), ("files",), ("files", "step"),
            ("sha256",), ("step_model",), ("step_model", "token_input"),
            ("step_model", "logits_output"), ("step_model", "states")]


def _at(card: dict, path: tuple) -> tuple[dict, str]:
    node = card
    for key in path[:-1]:
        node = node[key]
    return node, path[-1]


@pytest.mark.parametrize("path", REQUIRED, ids=lambda p: ".".join(p))
def test_card_missing_a_field_is_refused(folder: Path, path: tuple) -> None:
    victim, _ = _victim_and_survivor()
    card = _cards()[victim]
    node, key = _at(card, path)
    del node[key]
    _write_card(folder, victim, card)
    _assert_only_victim_refused(folder, f"{victim}.json", ".")


WRONG = [(("name",), 7), (("architecture",), ["lstm"]), (("architecture",), "  "),
         (("encoding",), "melody-16th"), (("encoding", "min_pitch"), "low"),
         (("encoding", "min_pitch"), float("inf")), (("encoding", "vocab_size"), None),
         (("encoding", "steps_per_quarter"), 0), (("files",), ["a.onnx"]),
         (("files", "step"), 12), (("sha256",), "abc"), (("step_model", "states"), {}),
         (("step_model", "states"), [1, 2]), (("step_model", "token_input"), None),
         (("card_version",), "1"), (("receptive_field_steps",), -3),
         (("receptive_field_steps",), 1.5)]


@pytest.mark.parametrize("path,value", WRONG, ids=lambda v: str(v)[:24])
def test_card_with_a_value_of_the_wrong_kind_is_refused(folder: Path, path: tuple,
                                                        value: object) -> None:
    """Found by fuzzing: "vocab_size": null and 1e999 (infinity) escaped as TypeError
    and OverflowError, which took every other model down with them."""
    victim, _ = _victim_and_survivor()
    card = _cards()[victim]
    node, key = _at(card, path)
    node[key] = value
    _write_card(folder, victim, card)
    _assert_only_victim_refused(folder, f"{victim}.json", ".")


def test_deeply_nested_card_is_refused(folder: Path) -> None:
    """Found by fuzzing: json.loads recursed into a RecursionError."""
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    library = ModelLibrary([folder])
    assert len(library.names) == len(_cards())
    assert any(p.startswith("deep.json") for p in library.problems), library.problems


# ---------------------------------------------------------------------------------------
# nothing in the folder runs code or reaches outside it
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../outside.onnx", "/tmp/outside.onnx", "sub/x.onnx",
                                  "..", "", "./x.onnx"])
def test_card_naming_a_path_outside_its_folder_is_refused(folder: Path, name: str) -> None:
    """Even when the file out there exists and its hash matches."""
    victim, _ = _victim_and_survivor()
    card = _cards()[victim]
    real = folder / card["files"]["step"]
    outside = folder.parent / "outside.onnx"
    shutil.copyfile(real, outside)
    card["files"]["step"] = name
    card["sha256"][name] = _sha(outside)
    _write_card(folder, victim, card)
    _assert_only_victim_refused(folder, f"{victim}.json", "plain file name|missing")


def test_a_shared_library_in_the_models_folder_is_never_loaded(folder: Path) -> None:
    """A real shared library, dropped in the folder as a would-be custom operator
    library and named in the card: after listing and running every model, it is not
    mapped into the process."""
    import onnxruntime

    libs = sorted(Path(onnxruntime.__file__).parent.rglob("*.so*"))
    assert libs, "onnxruntime ships shared libraries"
    plant = folder / "libcontinuo_custom_ops_test.so"
    shutil.copyfile(libs[0], plant)
    victim, _ = _victim_and_survivor()
    card = _cards()[victim]
    card["custom_ops_library"] = plant.name
    card["session_options"] = {"register_custom_ops_library": str(plant)}
    _write_card(folder, victim, card)
    library = ModelLibrary([folder])
    for name in library.names:
        model = library.get(name)
        _, state = model.prime([2, 0, 1])
        model.release(state)
    maps = Path(f"/proc/{os.getpid()}/maps").read_text()
    assert plant.name not in maps


def test_engine_source_never_unpickles_evals_or_registers_custom_ops() -> None:
    """A source-level guard for the rules: no pickle, no eval/exec, no custom op
    libraries, no numpy loads that allow pickles, anywhere in engine/."""
    forbidden = re.compile(r"\bimport pickle\b|\bpickle\.|\bcPickle\b|\bdill\b|\bjoblib\b|"
                           r"(?<![\w.])eval\(|(?<![\w.])exec\(|register_custom_ops_library|"
                           r"allow_pickle\s*=\s*True|torch\.load|marshal\.loads")
    hits = []
    for path in sorted((REPO / "engine").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if forbidden.search(code):
                hits.append(f"{path.name}:{n}: {line.strip()}")
    assert hits == []


def test_refused_cards_do_not_stop_a_later_refresh_from_finding_good_ones(folder: Path) -> None:
    victim, _ = _victim_and_survivor()
    card_path = folder / f"{victim}.json"
    good = card_path.read_text()
    card_path.write_text("{ not json")
    library = ModelLibrary([folder])
    assert len(library.names) == len(_cards()) - 1
    card_path.write_text(good)
    library.refresh()
    assert len(library.names) == len(_cards()) and library.problems == []


def test_read_card_itself_raises_only_model_error_for_each_bad_card(folder: Path) -> None:
    victim, _ = _victim_and_survivor()
    base = _cards()[victim]
    for path, value in WRONG:
        card = copy.deepcopy(base)
        node, key = _at(card, path)
        node[key] = value
        p = _write_card(folder, "probe", card)
        with pytest.raises(ModelError, match="probe.json"):
            read_card(p)


def test_card_naming_a_file_too_long_for_the_system_is_refused(folder: Path) -> None:
    """Found by the long fuzz run: a 10,000-character file name made is_file() raise
    OSError (ENAMETOOLONG) out of read_card."""
    victim, _ = _victim_and_survivor()
    card = _cards()[victim]
    card["files"]["step"] = "x" * 10_000
    p = _write_card(folder, victim, card)
    with pytest.raises(ModelError, match=f"{victim}.json: the ONNX file x+\\.\\.\\. is missing"):
        read_card(p)
    _assert_only_victim_refused(folder, f"{victim}.json", "missing")


def test_a_card_of_an_architecture_the_engine_has_never_heard_of_is_listed(folder: Path):
    """The engine checks the graphs' contract, not how they were built: a new
    architecture (registered on the training side in one file) needs no engine change."""
    victim, _ = _victim_and_survivor()
    card = dict(_cards()[victim], architecture="transformer")
    _write_card(folder, victim, card)
    library = ModelLibrary([folder])
    assert card["name"] in library.names, library.problems
    assert library.info(card["name"]).architecture == "transformer"
