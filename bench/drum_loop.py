"""The drum step loop's shortcuts (engine/generation/drum_steps.py, StepModel.stepper,
Sampler.ahead) against the plain loop they replaced (tests/engine/test_drum_steps.py's
``plain_sample_drums``, which the tests hold token for token to the loop as it is), in
one process on one core: each case run with the one loop and then the other, round
after round, the fastest CPU milliseconds of each and their ratio.

Cases: drums that go on for 16 bars after tests/data/drums/swing-tiny.mid (1 and 4
variations, the motif memory off and on) and Add Drums to the 32-bar song of
bench/drum_speed.py (1 and 4 variations).

    python bench/drum_loop.py [--repeats N] [--no-pin]

Prints a table and writes bench/results/drum_loop.json.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

common.single_threaded()


def main(argv: list[str] | None = None) -> int:
    from bench.drum_speed import DRUM_BARS, DRUM_SEED, add_drums_song
    from engine.formats import load_song
    from engine.generation import jobs
    from engine.generation.jobs import drums as drum_jobs
    from engine.generation.request import DRUMS, GenerationRequest, GenerationSettings
    from engine.models import ModelLibrary
    from tests.engine.test_drum_steps import plain_sample_drums

    ap = common.parser(__doc__)
    common.add_out(ap, "drum_loop")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    args = ap.parse_args(argv)
    pinned = common.pinned_unless(args.no_pin)
    library = ModelLibrary([common.ROOT / "models"])
    name = drum_jobs.drum_model(library).name
    song, long_song = load_song(str(DRUM_SEED)), add_drums_song()
    cases = {}
    for k in (1, 4):
        for memory in (False, True):
            s = GenerationSettings(model=name, bars=DRUM_BARS, variations=k, memory=memory)
            cases[f"go on {DRUM_BARS} bars x{k}, memory {'on' if memory else 'off'}"] = (
                lambda s=s: drum_jobs.continue_drums(library, song, s,
                                                     start_tick=song.end_tick, new_notes=None))
    for k in (1, 4):
        request = GenerationRequest(DRUMS, GenerationSettings(model=name, variations=k,
                                                              key=None))
        cases[f"Add Drums 32 bars x{k}"] = lambda r=request: jobs.run(library, long_song, r)
    loops = {"before": plain_sample_drums, "after": drum_jobs.sample_drums}
    cpu = {(c, w): [] for c in cases for w in loops}
    load = common.load_averages()
    try:
        for fn in cases.values():
            fn()  # the sessions made
        for _ in range(args.repeats):
            for case, fn in cases.items():
                for which, loop in loops.items():
                    drum_jobs.sample_drums = loop
                    c0 = time.process_time()
                    fn()
                    cpu[(case, which)].append((time.process_time() - c0) * 1e3)
    finally:
        drum_jobs.sample_drums = loops["after"]
    rows = {}
    for case in cases:
        b, a = cpu[(case, "before")], cpu[(case, "after")]
        rows[case] = {"before_cpu_ms": round(min(b), 2), "after_cpu_ms": round(min(a), 2),
                      "before_median": round(statistics.median(b), 2),
                      "after_median": round(statistics.median(a), 2),
                      "after_over_before": round(min(a) / min(b), 3)}
    print(f"\ndrum loop: plain (before) and with the shortcuts (after), fastest of "
          f"{args.repeats} rounds, CPU ms, model {name}, {pinned}")
    common.print_table([("case", 30), ("before", 8), ("after", 8), ("after/before", 13)],
                       ([c, f"{r['before_cpu_ms']:.1f}", f"{r['after_cpu_ms']:.1f}",
                         f"{r['after_over_before']:.2f}"] for c, r in rows.items()))
    print()
    common.write_json(args.out, {"command": common.command_line("drum_loop", argv),
                                 "cpu": pinned, "date": time.strftime("%Y-%m-%d %H:%M"),
                                 "load_average_before": load,
                                 "load_average_after": common.load_averages(),
                                 "git": common.git_state("uncommitted_changes", "engine"),
                                 "repeats": args.repeats, "cases": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
