"""A timing worker for ``bench/generation.py --baseline``: times generations with the
engine of one checkout, run after run as its parent asks, so that two checkouts (this
one and an older one) take turns on the same core in the same run.

    python bench/generation_worker.py CHECKOUT MODELS_DIR MELODY_SEED

It imports ``engine`` from CHECKOUT (not from the checkout this file is in), reads the
model cards of MODELS_DIR, and answers JSON lines on stdin:

* ``{"op": "models"}``: ``{"melody": [...], "polyphonic": [...]}``, the names it can time;
* ``{"op": "time", "model": M, "variations": K, "memory": B, "poly": P}``: one run of
  :func:`generate` (melody) or :func:`generate_polyphony` (16 bars after the first 4 of
  music21's ``bach/bwv66.6.mxl``), 256 steps, rng seed 0, after an untimed first run of
  the same settings: ``{"wall_ms": ..., "cpu_ms": ...}`` (CPU: this process's time).

Only names every engine since the motif memory has are used, so that an older
checkout's engine runs it unchanged.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# bench.common from this checkout; it imports no engine until poly_seed() runs, by
# then from CHECKOUT (main puts it first on the path)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import poly_seed, single_threaded  # noqa: E402

single_threaded("NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

STEPS = 256


def is_polyphonic(info) -> bool:
    encoding = info.card.get("encoding", {})
    return bool(encoding.get("polyphonic")) or str(encoding.get("name", "")).startswith("poly")


def main() -> int:
    checkout, models_dir, melody_seed = (Path(a).resolve() for a in sys.argv[1:4])
    sys.path.insert(0, str(checkout))
    from engine.formats import midi_file_to_song
    from engine.generation.generator import GenerationSettings, generate
    from engine.models import ModelLibrary

    library = ModelLibrary([models_dir])
    seed = midi_file_to_song(melody_seed)
    runs: dict[tuple, object] = {}

    def run_of(model: str, k: int, memory: bool, poly: bool):
        key = (model, k, memory, poly)
        if key not in runs:
            s = GenerationSettings(model=model, steps=STEPS, variations=k, memory=memory)
            if poly:
                from engine.generation.polyphony import generate_polyphony
                pseed, start = poly_seed()
                runs[key] = lambda: generate_polyphony(library, pseed, s, start_tick=start)
            else:
                runs[key] = lambda: generate(library, seed, s)
            runs[key]()  # warm-up: the session, the seed's parts
        return runs[key]

    for line in sys.stdin:
        ask = json.loads(line)
        try:
            if ask["op"] == "models":
                infos = library.models
                reply = {"melody": [i.name for i in infos if not is_polyphonic(i)],
                         "polyphonic": [i.name for i in infos if is_polyphonic(i)]}
            else:
                fn = run_of(ask["model"], int(ask["variations"]), bool(ask["memory"]),
                            bool(ask["poly"]))
                w0, c0 = time.perf_counter(), time.process_time()
                fn()
                reply = {"cpu_ms": (time.process_time() - c0) * 1e3,
                         "wall_ms": (time.perf_counter() - w0) * 1e3}
        except Exception as e:  # said to the parent, which leaves the figure out
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
