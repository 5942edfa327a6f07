"""How much a style helps: O'Neill's 1850 collection (music21's corpus), the
even-numbered tunes as the user's folder and the odd-numbered ones scored.

The style is built from ``--even`` (timed; into a fresh models folder, so nothing saved
before is reused) and every tune of ``--odd`` is scored with ``--model`` (default duet):
the network alone, with the motif memory, with the memory and the style, and with the
style but no memory.  Bits per note as ``python main.py score`` counts them.

    python -m training memory-sweep --write-split all --collection oneills1850 \\
        --parity even --to /tmp/oneill/even            # and --parity odd --to .../odd
    python bench/style.py --even /tmp/oneill/even --odd /tmp/oneill/odd

Prints a table and writes bench/results/style.json.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402


def score_all(model, style, tunes) -> dict:
    """Bits per note of ``tunes`` with the model alone, with the memory, with the style and
    with both; printed to stderr as it goes."""
    from engine.generation.memory import score_tokens_with_memory
    from engine.generation.style import score_tokens_with_style

    rows = {
        f"{model.name} alone": lambda t: model.score_tokens(t),
        f"{model.name} + memory": lambda t: score_tokens_with_memory(model, t),
        f"{model.name} + style": lambda t: score_tokens_with_style(model, t, style, False),
        f"{model.name} + memory + style":
            lambda t: score_tokens_with_style(model, t, style, True),
    }
    results = {}
    for name, score in rows.items():
        t0 = time.perf_counter()
        bits = notes = 0.0
        for _, tokens in tunes:
            b, _, n = score(tokens)
            bits, notes = bits + b, notes + n
        results[name] = {"bits_per_note": round(bits / notes, 4), "notes": int(notes),
                         "seconds": round(time.perf_counter() - t0, 1)}
        print(f"{name:<28} {bits / notes:6.3f} bits/note  ({int(notes)} notes)",
              file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__)
    ap.add_argument("--even", required=True, metavar="DIR", help="the style's folder")
    ap.add_argument("--odd", required=True, metavar="DIR", help="the tunes to score")
    ap.add_argument("--model", default="duet")
    common.add_out(ap, "style")
    args = ap.parse_args(argv)
    os.environ["CONTINUO_MODELS_DIR"] = tempfile.mkdtemp(prefix="continuo-style-bench-")
    from engine.formats.folder import read_folder
    from engine.generation.style import build_style
    from engine.models import ModelLibrary

    model = ModelLibrary().get(args.model)
    enc = model.encoding
    started = time.perf_counter()
    style = build_style(args.even, enc)
    build_s = time.perf_counter() - started
    print(f"style {style.describe()}: built in {build_s:.2f} s "
          f"(held-out bits/note by order {style.bits_by_order})", file=sys.stderr)
    started = time.perf_counter()
    style.shares_for(model, memory=True)
    style.shares_for(model, memory=False)
    fit_s = time.perf_counter() - started
    odd = read_folder(args.odd, enc)
    results = score_all(model, style, odd.tunes)
    print(f"\n{'':<28} bits/note  (odd tunes: {len(odd.tunes)}, style: {style.tunes} "
          f"even tunes, a {style.order}-gram built in {build_s:.1f} s)")
    for name, r in results.items():
        print(f"{name:<28} {r['bits_per_note']:9.3f}")
    report = {
        "command": "python bench/style.py --even DIR --odd DIR",
        "folders": "python -m training memory-sweep --write-split all --collection "
                   "oneills1850 --parity even|odd --to DIR",
        "model": model.name,
        "style": {**style.summary(), "saved": None, "build_seconds": round(build_s, 2),
                  "share_fit_seconds": round(fit_s, 2),
                  "held_out_bits_per_note_by_order": style.bits_by_order,
                  "shares": style.shares},
        "odd_tunes": len(odd.tunes), "odd_problems": odd.problems,
        "results": results,
    }
    common.write_json(args.out, report, indent=1, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
