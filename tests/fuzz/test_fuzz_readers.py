"""The CI slice of the fuzzer: a few dozen mutated real files per reader.

Each reader must read the input or refuse it with a ContinuoError that names the file;
any other exception, or a hang, fails.  The long run (scripts/fuzz_long.py) feeds the
same mutations by the ten thousand; this slice keeps every push honest in well under a
minute per reader.
"""

from __future__ import annotations

import random
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import no_hang
from tests.fuzz.mutators import mutate
from tests.fuzz.oracle import run_reader
from tests.fuzz.seeds import seeds

@pytest.fixture(autouse=True, scope="module")
def short_score_budget() -> Iterator[None]:
    """music21's parse of a pathological score is cut at 2 s here (30 s in the app), so
    one bad input costs the slice seconds, not minutes."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CONTINUO_SCORE_SECONDS", "2")
    yield
    mp.undo()


# examples per reader: music21 readers cost ~0.1-2 s an input, MIDI ~10 ms
EXAMPLES = {"midi": 150, "abc": 25, "musicxml": 20, "kern": 20, "card": 150}

_SLICE = settings(deadline=None, database=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.function_scoped_fixture])


def _fuzz_once(reader: str, rng: random.Random) -> str:
    pool = seeds(reader)
    if not pool:
        pytest.skip(f"no real {reader} files to mutate")
    seed = rng.choice(pool)
    _, data = mutate(rng, reader, seed.suffix, seed.data, [s.data for s in pool], light=True)
    with tempfile.TemporaryDirectory() as folder, no_hang(len(data)):
        outcome = run_reader(reader, seed.suffix, data, Path(folder), stem=f"fuzz-{reader}")
    # a parser stopped by the score budget ends in its helper thread; wait for it here,
    # so that its CPU time is charged to this input and not to the next one
    for helper in [t for t in threading.enumerate() if t.name == "continuo-time-budget"]:
        helper.join(10)
        assert not helper.is_alive(), (
            f"a stopped {reader} parse still runs 10 s later ({len(data)} bytes)")
    return outcome


@settings(_SLICE, max_examples=EXAMPLES["midi"])
@given(st.randoms(use_true_random=False))
def test_midi_reader_survives_mutated_real_files(rng: random.Random) -> None:
    _fuzz_once("midi", rng)


@pytest.mark.slow
@settings(_SLICE, max_examples=EXAMPLES["abc"])
@given(st.randoms(use_true_random=False))
def test_abc_reader_survives_mutated_real_files(rng: random.Random) -> None:
    _fuzz_once("abc", rng)


@pytest.mark.slow
@settings(_SLICE, max_examples=EXAMPLES["musicxml"])
@given(st.randoms(use_true_random=False))
def test_musicxml_reader_survives_mutated_real_files(rng: random.Random) -> None:
    _fuzz_once("musicxml", rng)


@pytest.mark.slow
@settings(_SLICE, max_examples=EXAMPLES["kern"])
@given(st.randoms(use_true_random=False))
def test_kern_reader_survives_mutated_real_files(rng: random.Random) -> None:
    _fuzz_once("kern", rng)


@settings(_SLICE, max_examples=EXAMPLES["card"])
@given(st.randoms(use_true_random=False))
def test_model_card_reader_survives_mutated_real_cards(rng: random.Random) -> None:
    """The shipped cards, mutated (wrong types, missing keys, paths outside the folder,
    deep nesting ...), beside the real ONNX files: a model or a ModelError."""
    _fuzz_once("card", rng)


def test_unmutated_seeds_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oracle is not vacuous: the real files themselves read as songs (with the
    app's own time budget: the 2 s of the fuzz slice is tight on a loaded machine)."""
    monkeypatch.delenv("CONTINUO_SCORE_SECONDS")
    with tempfile.TemporaryDirectory() as folder:
        for reader in ("midi", "abc", "kern", "musicxml", "card"):
            for s in seeds(reader)[:3]:
                assert run_reader(reader, s.suffix, s.data, Path(folder),
                                  stem=f"seed-{reader}") == "ok", s.name
