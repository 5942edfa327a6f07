"""Do the continuations sound like tunes?  Each shipped model, with and without the
motif memory (and a Kneser-Ney 12-gram sampler as a baseline), against the real
continuations of Essen test tunes.

For the first ``--tunes`` tunes of the test split (training's corpus cache: tunes in
C major / A minor) with a metre (the ABC file's ``M:`` line; a tune's bars are counted
from its first note, so an upbeat shifts them all alike), the first 2 bars are the seed
and 4 bars are generated in the same metre, ``--variations`` per tune, at temperature 1
with the CLI's other defaults (the auto key lock).  The real next 4 bars are the
reference.  Per row:

* repeated bars: the share of the 4 new bars that are step for step an earlier bar of
  the tune (the seed's or a new one), of all bars and of those with at least 2 notes;
  and the share of continuations with at least one such bar (of at least 2 notes);
* rest share: steps of silence among the new steps, counted from the generated tokens
  (a continuation that starts with a NOTE_OFF starts silent); continuations with a rest;
* in-scale share: notes in C major / A natural minor (the whole tune's scale);
* tonic endings: the last new note on the tonic triad of the tune's key (C or Am, the
  whole real tune's key profile);
* copies: new 2-bar windows (bars 1-2, 2-3, 3-4) and whole 4-bar passages that occur
  anywhere, at any step, in a training tune;
* Jensen-Shannon distances (base 2, the square root of the divergence) of the pitch
  class, interval and duration histograms to the real continuations'; the real tunes'
  own even/odd split is the noise floor.

    python bench/musicality.py [--tunes 150] [--variations 4] [--models lstm wavenet duet] [--no-ngram]

Prints a table and writes bench/results/musicality.json.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import ROOT  # noqa: E402
from engine.encodings import DEFAULT_ENCODING, Key, estimate_song_key  # noqa: E402
from engine.generation.generator import GenerationSettings, generate  # noqa: E402
from engine.models import ModelLibrary  # noqa: E402
from engine.song import melody_song  # noqa: E402

SEED_BARS, NEW_BARS = 2, 4
PPQ = 480
HOLD, OFF = 0, 1  # the melody encoding's tokens; a NOTE_ON is 2 + pitch - min_pitch
SCALE = Key(0).scale_pitch_classes
TARGETS = {"repeated_bars_2_notes": ">= 0.06", "rest_share": "within 20% of the real",
           "copied_4_bars": "<= 0.01"}


# ---------------------------------------------------------------------------------------
# notes <-> step symbols
# ---------------------------------------------------------------------------------------
def note_symbol(pitch: int) -> int:
    """The melody encoding's NOTE_ON token, or a symbol no training token can equal for
    a pitch outside its range."""
    enc = DEFAULT_ENCODING
    return enc.note_on(pitch) if enc.min_pitch <= pitch <= enc.max_pitch else 1000 + pitch


def steps_of(notes, start_step: int, n: int) -> np.ndarray:
    """Notes (one line) -> one symbol per step of [start_step, start_step + n): the
    melody tokens, with a NOTE_OFF where a note ends before the next starts."""
    out = np.full(n, HOLD, dtype=np.int64)
    step = PPQ // DEFAULT_ENCODING.steps_per_quarter
    ordered = sorted(notes, key=lambda x: x.start_tick)
    for i, note in enumerate(ordered):
        s = note.start_tick // step - start_step
        e = (note.start_tick + note.duration_ticks) // step - start_step
        nxt = ordered[i + 1].start_tick // step - start_step if i + 1 < len(ordered) else n
        if 0 <= s < n:
            out[s] = note_symbol(note.pitch)
        if e < nxt and 0 <= e < n:
            out[e] = OFF
    return out


def pitch_of(symbol: int) -> int | None:
    if symbol >= 1000:
        return symbol - 1000
    return DEFAULT_ENCODING.token_pitch(int(symbol)) if symbol >= 2 else None


def metres(tune_ids: list[str]) -> dict[str, tuple[int, int]]:
    """The time signature of each tune id (``<ABC file>#<index>``, music21's order: by
    reference number) from its ``M:`` line; a tune without one (or ``M: none``) is left
    out."""
    import re

    from training import corpus as C

    paths = {p.name: p for p in C.collection_files(C.TRAIN_COLLECTION)}
    out: dict[str, tuple[int, int]] = {}
    for name in sorted({i.rpartition("#")[0] for i in tune_ids}):
        text = paths[name].read_text(encoding="latin-1")
        blocks = re.split(r"^(?=X:)", text, flags=re.M)
        tunes = []
        for block in blocks:
            x = re.match(r"X:\s*(\d+)", block)
            if x:
                m = re.search(r"^M:\s*(\S+)", block, flags=re.M)
                tunes.append((int(x.group(1)), m.group(1) if m else ""))
        tunes.sort(key=lambda t: t[0])
        for index, (_, metre) in enumerate(tunes):
            metre = {"C": "4/4", "C|": "2/2"}.get(metre, metre)
            if re.fullmatch(r"\d+/\d+", metre):
                num, den = map(int, metre.split("/"))
                out[f"{name}#{index}"] = (num, den)
    return out


# ---------------------------------------------------------------------------------------
# the measures
# ---------------------------------------------------------------------------------------
class Windows:
    """Every window of the training tunes, of each length asked for, as sorted 64-bit
    hashes (made on first use per length)."""

    def __init__(self, tunes) -> None:
        self.tunes = [np.asarray(t, dtype=np.uint64) + np.uint64(1) for t in tunes]
        self.sets: dict[int, np.ndarray] = {}

    @staticmethod
    def _power(n: int) -> np.ndarray:
        return np.array([1000003 ** k % (1 << 63) for k in range(n)], dtype=np.uint64)

    def contains(self, window: np.ndarray) -> bool:
        n = len(window)
        power = self._power(n)
        if n not in self.sets:
            hashes = [np.lib.stride_tricks.sliding_window_view(t, n) @ power
                      for t in self.tunes if len(t) >= n]
            self.sets[n] = np.unique(np.concatenate(hashes)) if hashes else \
                np.zeros(0, dtype=np.uint64)
        table = self.sets[n]
        h = (np.asarray(window, dtype=np.uint64) + np.uint64(1)) @ power
        i = np.searchsorted(table, h)
        return bool(i < len(table) and table[i] == h)


def sounding_steps(symbols: np.ndarray, sounding: bool) -> np.ndarray:
    """Per step, whether a note sounds (``sounding``: whether one does before)."""
    out = np.empty(len(symbols), dtype=bool)
    for i, s in enumerate(symbols):
        if s == OFF:
            sounding = False
        elif s != HOLD:
            sounding = True
        out[i] = sounding
    return out


def ends_sounding(symbols: np.ndarray) -> bool:
    marks = [s for s in symbols if s != HOLD]
    return bool(marks) and marks[-1] != OFF


def histogram(values, bins) -> np.ndarray:
    h = np.zeros(len(bins) + 1)
    index = {b: i for i, b in enumerate(bins)}
    for v in values:
        h[index.get(v, len(bins))] += 1
    return h


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    p = p / max(p.sum(), 1e-12)
    q = q / max(q.sum(), 1e-12)
    m = (p + q) / 2

    def kl(a, b):
        keep = a > 0
        return float((a[keep] * np.log2(a[keep] / b[keep])).sum())

    return float(np.sqrt(max(0.0, (kl(p, m) + kl(q, m)) / 2)))


class Tally:
    """The measures over many continuations."""

    PCS, INTERVALS, DURATIONS = list(range(12)), list(range(-12, 13)), list(range(1, 17))

    def __init__(self) -> None:
        self.c = dict.fromkeys(
            ["bars", "bars_repeated", "bars2", "bars2_repeated", "continuations",
             "continuations_repeating", "steps", "rest_steps", "with_rest", "notes",
             "in_scale", "ended", "tonic_end", "windows2", "copied2", "copied4"], 0)
        self.pc, self.iv, self.dur = [], [], []

    def add(self, seed: np.ndarray, new: np.ndarray, minor: bool, w2: Windows, w4: Windows,
            tokens: np.ndarray | None = None):
        """``new``: the continuation's step symbols (:func:`steps_of`); ``tokens``: the
        tokens it was generated as, when they are not ``new`` itself.  Rests are counted
        from the tokens: a seed note never carries past the boundary, so a continuation
        whose first token is a NOTE_OFF starts silent, which its notes cannot show."""
        c = self.c
        bar = len(seed) // SEED_BARS
        whole = np.concatenate([seed, new])
        bars = [tuple(whole[i:i + bar]) for i in range(0, len(whole), bar)]
        repeating = False
        for b in range(SEED_BARS, len(bars)):
            onsets = sum(1 for s in bars[b] if s >= 2)
            again = bars[b] in bars[:b]
            c["bars"] += 1
            c["bars_repeated"] += again
            if onsets >= 2:
                c["bars2"] += 1
                c["bars2_repeated"] += again
                repeating |= again
        c["continuations"] += 1
        c["continuations_repeating"] += repeating
        sounding = sounding_steps(new if tokens is None else np.asarray(tokens),
                                  ends_sounding(seed))
        c["steps"] += len(new)
        c["rest_steps"] += int((~sounding).sum())
        c["with_rest"] += bool((~sounding).any())
        pitches = [pitch_of(s) for s in new if s >= 2]
        c["notes"] += len(pitches)
        c["in_scale"] += sum(p % 12 in SCALE for p in pitches)
        if pitches:
            c["ended"] += 1
            c["tonic_end"] += pitches[-1] % 12 in ({9, 0, 4} if minor else {0, 4, 7})
        for k in range(0, len(new) - 2 * bar + 1, bar):
            c["windows2"] += 1
            c["copied2"] += w2.contains(new[k:k + 2 * bar])
        c["copied4"] += w4.contains(new)
        self.pc += [p % 12 for p in pitches]
        self.iv += [b - a for a, b in zip(pitches, pitches[1:])]
        onsets = [i for i, s in enumerate(new) if s >= 2] + [len(new)]
        self.dur += [min(b - a, 17) for a, b in zip(onsets, onsets[1:])]

    def histograms(self) -> dict[str, np.ndarray]:
        return {"pitch_class": histogram(self.pc, self.PCS),
                "interval": histogram(self.iv, self.INTERVALS),
                "duration": histogram(self.dur, self.DURATIONS)}

    def row(self, real: "Tally | None" = None) -> dict:
        c = self.c

        def share(a, b):
            return round(c[a] / c[b], 4) if c[b] else None

        r = {"continuations": c["continuations"], "notes": c["notes"],
             "repeated_bars": share("bars_repeated", "bars"),
             "repeated_bars_2_notes": share("bars2_repeated", "bars2"),
             "continuations_repeating_a_bar": share("continuations_repeating", "continuations"),
             "rest_share": share("rest_steps", "steps"),
             "continuations_with_a_rest": share("with_rest", "continuations"),
             "in_scale": share("in_scale", "notes"), "tonic_endings": share("tonic_end", "ended"),
             "copied_2_bars": share("copied2", "windows2"),
             "copied_4_bars": share("copied4", "continuations")}
        if real is not None:
            mine, theirs = self.histograms(), real.histograms()
            for name in mine:
                r[f"js_{name}"] = round(js_distance(mine[name], theirs[name]), 4)
        return r


# ---------------------------------------------------------------------------------------
# the n-gram baseline
# ---------------------------------------------------------------------------------------
class NgramSampler:
    """Kneser-Ney 12-gram (engine/models/ngram.py) fitted on the training split, sampled at
    temperature 1 under the same first-step rule (a held seed note ends at the start)."""

    def __init__(self, train, order: int = 12) -> None:
        from engine.models.ngram import KneserNey

        self.order = order
        self.kn = KneserNey(DEFAULT_ENCODING.vocab_size, order).fit(train)

    def continue_(self, seed: list[int], steps: int, rng: np.random.Generator) -> list[int]:
        history = list(seed)
        out = []
        for i in range(steps):
            context = history[-(self.order - 1):] + [0]
            p = self.kn.distributions(np.array(context))[-1]
            if i == 0 and ends_sounding(np.array(seed)):
                p = p.copy()
                p[HOLD] = 0.0
            p = p / p.sum()
            tok = int(rng.choice(len(p), p=p))
            out.append(tok)
            history.append(tok)
        return out


# ---------------------------------------------------------------------------------------
@dataclass
class Tunes:
    """The test tunes measured: their tokens, metres, steps per bar and modes, and the
    training split's windows (for the copies)."""

    tokens: list
    metre: list
    bar_steps: list
    minor: list
    train: list
    windows: Windows
    encoding: object

    def seed_and_next(self, i: int):
        seed_steps, new_steps = SEED_BARS * self.bar_steps[i], NEW_BARS * self.bar_steps[i]
        t = self.tokens[i]
        return t[:seed_steps], t[seed_steps:seed_steps + new_steps]


def test_tunes(split: str, count: int) -> Tunes:
    """The first ``count`` tunes of ``split`` with a metre and enough bars."""
    from training import corpus as C

    corpus = C.get_corpus(C.TRAIN_COLLECTION)
    enc = corpus.encoding
    train = corpus.split("train")
    test_ids = [i for i, s in zip(corpus.ids, corpus.splits) if s == split]
    metre_of = metres(test_ids)
    tunes, metre, bar_steps = [], [], []
    for tune_id, t in zip(test_ids, corpus.split(split)):
        if tune_id not in metre_of:
            continue
        num, den = metre_of[tune_id]
        bar = 16 * num // den
        if 16 * num % den or len(t) < (SEED_BARS + NEW_BARS) * bar:
            continue
        tunes.append(np.asarray(t, dtype=np.int64))
        metre.append((num, den))
        bar_steps.append(bar)
        if len(tunes) == count:
            break
    minor = [estimate_song_key(enc.decode(t.tolist(), PPQ)).minor for t in tunes]
    return Tunes(tunes, metre, bar_steps, minor, train, Windows(train), enc)


def model_row(library: ModelLibrary, name: str, memory: bool, power: float | None,
              tunes: Tunes, variations: int, real: Tally) -> dict:
    """One model's continuations of every tune, with the memory on or off (and with
    ``power``, the memory's shares to that power), measured."""
    from engine.generation import memory as M

    M.override_mixing(name, None)
    if power is not None:  # the card's choice with another power
        M.override_mixing(name, replace(M.mixing_for(name), generation_power=power))
    tally = Tally()
    t1 = time.monotonic()
    w = tunes.windows
    for i, t in enumerate(tunes.tokens):
        seed_tokens, nxt = tunes.seed_and_next(i)
        song = melody_song(tunes.encoding.decode(seed_tokens.tolist(), PPQ), ppq=PPQ,
                           time_signature=tunes.metre[i])
        s = GenerationSettings(model=name, bars=NEW_BARS, variations=variations,
                               rng_seed=i, temperature=1.0, memory=memory)
        result = generate(library, song, s, start_tick=len(seed_tokens) * PPQ // 4)
        assert result.steps == len(nxt), (result.steps, len(nxt))
        for notes, tokens in zip(result.variations, result.tokens, strict=True):
            assert len(tokens) == len(nxt), (len(tokens), len(nxt))
            tally.add(seed_tokens, steps_of(notes, len(seed_tokens), len(nxt)),
                      tunes.minor[i], w, w, tokens=tokens)
    return {**tally.row(real), "seconds": round(time.monotonic() - t1, 1)}


def ngram_row(tunes: Tunes, variations: int, real: Tally) -> dict:
    t1 = time.monotonic()
    sampler = NgramSampler(tunes.train)
    tally = Tally()
    for i in range(len(tunes.tokens)):
        rng = np.random.default_rng(i)
        seed_tokens, nxt = tunes.seed_and_next(i)
        for _ in range(variations):
            new = np.array(sampler.continue_(seed_tokens.tolist(), len(nxt), rng))
            tally.add(seed_tokens, new, tunes.minor[i], tunes.windows, tunes.windows)
    return {**tally.row(real), "seconds": round(time.monotonic() - t1, 1)}


COLUMNS = [("repeated_bars", "rep"), ("repeated_bars_2_notes", "rep2"),
           ("continuations_repeating_a_bar", "cont rep"), ("rest_share", "rest"),
           ("continuations_with_a_rest", "cont rest"), ("in_scale", "scale"),
           ("tonic_endings", "tonic"), ("copied_2_bars", "copy2"), ("copied_4_bars", "copy4"),
           ("js_pitch_class", "JS pc"), ("js_interval", "JS int"), ("js_duration", "JS dur")]


def print_rows(rows: dict, real_rest: float) -> None:
    def fig(key, v):
        return (f"{v:10.2%}" if isinstance(v, float) and not key.startswith("js")
                else f"{v:10.3f}" if isinstance(v, float) else f"{'-':>10}")

    common.print_table([("", "28"), *((short, 10) for _, short in COLUMNS)],
                       ([label, *(fig(key, r.get(key)) for key, _ in COLUMNS)]
                        for label, r in rows.items()), sep="")
    print(f"\ntargets: repeated bars of >= 2 notes >= 6%; rest share within 20% of the real "
          f"{real_rest:.2%} ({0.8 * real_rest:.2%}-{1.2 * real_rest:.2%}); whole 4-bar "
          f"passages copied from training <= 1%")


def main(argv: list[str] | None = None) -> int:
    ap = common.parser(__doc__)
    ap.add_argument("--tunes", type=int, default=150)
    ap.add_argument("--variations", type=int, default=4)
    ap.add_argument("--models", nargs="+", default=["lstm", "wavenet", "duet"])
    ap.add_argument("--no-ngram", action="store_true", help="leave out the n-gram baseline")
    ap.add_argument("--split", default="test", help="test (default) or validation")
    ap.add_argument("--generation-power", type=float, nargs="+", metavar="P",
                    help="with the memory on, also try these powers of its shares (the "
                         "calibration of engine.generation.memory.Mixing.generation_power)")
    common.add_out(ap, "musicality")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    tunes = test_tunes(args.split, args.tunes)
    real, even, odd = Tally(), Tally(), Tally()
    for i in range(len(tunes.tokens)):
        seed, nxt = tunes.seed_and_next(i)
        for tally in (real, even if i % 2 == 0 else odd):
            tally.add(seed, nxt, tunes.minor[i], tunes.windows, tunes.windows)
    rows = {"real": real.row(), "real: even tunes vs odd tunes": even.row(odd)}
    library = ModelLibrary([ROOT / "models"])
    runs = [(False, None), (True, None)] + [(True, p) for p in args.generation_power or []]
    for name in args.models:
        for memory, power in runs:
            label = f"{name} memory {'on' if memory else 'off'}" + \
                (f" power {power:g}" if power is not None else "")
            rows[label] = model_row(library, name, memory, power, tunes, args.variations, real)
            print(f"{label}: {rows[label]['seconds']} s", file=sys.stderr)
    if not args.no_ngram:
        rows["Kneser-Ney 12-gram"] = ngram_row(tunes, args.variations, real)
    from engine.generation import memory as M

    for name in args.models:
        M.override_mixing(name, None)
    print(f"\n{len(tunes.tokens)} Essen {args.split} tunes: {SEED_BARS} bars of seed, "
          f"{NEW_BARS} bars generated, {args.variations} variations each, temperature 1, "
          f"key lock auto")
    print_rows(rows, real.row()["rest_share"])
    metre = tunes.metre
    report = {"split": args.split, "tunes": len(tunes.tokens),
              "metres": {f"{n}/{d}": metre.count((n, d)) for n, d in sorted(set(metre))},
              "variations": args.variations, "seed_bars": SEED_BARS,
              "new_bars": NEW_BARS, "temperature": 1.0, "key": "auto", "targets": TARGETS,
              "command": common.command_line("musicality", argv),
              "date": time.strftime("%Y-%m-%d %H:%M"),
              "seconds": round(time.monotonic() - t0, 1), "rows": rows}
    common.write_json(Path(args.out), report, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
