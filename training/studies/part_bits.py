"""Where the part models' bits per note could come down: a study, numpy and onnxruntime.

    python -m training part-bits-study [--split validation] [--max-tokens 1000]
    python -m training part-bits-study --split test --prefix bach/ --fit-on validation

Issue 27 asks for poly-wavenet with its memory at 3.70 bits per note on the part-music
test split and 3.00 on the four-part Bach chorales.  The part memory
(:mod:`engine.generation.part_memory`) takes 0.5-1.6% off; this study measures, on the
same pieces and tokens as ``part-memory-sweep`` (each piece's first ``--max-tokens``),
what else does, each step on top of the last:

* **the grammar:** scoring renormalised over the tokens the polyphonic grammar allows
  (:class:`engine.encodings.polyphony.PolyGrammar` with the encoding's eight voices:
  pitches fall within a step, a HOLD needs its pitch sounding the step before), which
  generation applies anyway; for the network, and for the memory before it is mixed (an
  n-gram of the piece knows no grammar and spreads its escape over impossible tokens);
* **a part duet:** poly-lstm and poly-wavenet mixed per token, log-linearly (a product
  of experts, as the melody duet ``training.ensemble`` builds) or linearly, the weight
  on a grid;
* **a temperature** on the best mixture's log-probabilities;
* **the memory on top:** the card's adaptive mixing refitted (expectation-maximisation,
  ``training.studies.memory_sweep.fit_adaptive``) on the new distributions.

Every choice is made on the ``--fit-on`` split (validation); ``--split test`` reports
test bits with those choices.  The report goes to ``models/memory/part_bits_SPLIT.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from engine.generation.memory import Mixing, MotifMemory, memory_distributions, softmax
from training.studies.memory_sweep import bits_per_note, fit_adaptive
from training.studies.part_memory_sweep import MAX_TOKENS, ROOT, pieces

MEMORY_ORDER = 16  # the part cards' memory order
DUET_WEIGHTS = tuple(round(0.1 * k, 1) for k in range(11))  # poly-lstm's share
TEMPERATURES = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2)
MEMBERS = ("poly-lstm", "poly-wavenet")


def grammar_masks(tokens: np.ndarray, enc, max_notes: int | None = None
                  ) -> tuple[np.ndarray, int]:
    """``[len - 1, vocab]``: the tokens the polyphonic grammar allows after each prefix
    (row t: before token t + 1), at most ``max_notes`` a step (the encoding's eight when
    None), and how many of the piece's own tokens it would refuse (their rows are left
    open, so a piece is never scored impossible)."""
    grammar = enc.grammar(1, max_notes)
    allowed = np.ones(enc.vocab_size, dtype=bool)
    out = np.empty((len(tokens) - 1, enc.vocab_size), dtype=bool)
    grammar.push(np.array([tokens[0]]))
    refused = 0
    for i in range(1, len(tokens)):
        row = grammar.mask(allowed)[0]
        if not row[tokens[i]]:
            refused += 1
            row = allowed
        out[i - 1] = row
        grammar.push(np.array([tokens[i]]))
    return out, refused


def renormalised(p: np.ndarray, mask: np.ndarray) -> np.ndarray:
    q = np.where(mask, p, 0.0)
    return q / q.sum(axis=-1, keepdims=True)


def log_linear(pa: np.ndarray, pb: np.ndarray, w: float, temperature: float = 1.0) -> np.ndarray:
    """``pa ** w * pb ** (1 - w)``, all to the power ``1 / temperature``, renormalised."""
    z = (w * np.log(np.maximum(pa, 1e-300)) + (1 - w) * np.log(np.maximum(pb, 1e-300)))
    return softmax(z / temperature)


def _bits(dists: list[np.ndarray], tunes: list[np.ndarray], enc) -> float:
    """Bits per note of ``tunes[i][1:]`` under ``dists[i]``."""
    bits = notes = 0.0
    for p, t in zip(dists, tunes):
        targets = t[1:]
        bits -= np.log2(np.maximum(p[np.arange(len(targets)), targets], 1e-300)).sum()
        notes += enc.count_onsets(targets)
    return float(bits / notes)


def _tunes(split: str, prefix: str, max_tokens: int) -> list[np.ndarray]:
    """The pieces (their first ``max_tokens`` tokens) as part-memory-sweep parses and
    caches them, ids starting with ``prefix``; with "bach/", the four-part chorales
    alone, as ``part-memory-sweep --score`` takes them."""
    tunes = [t.astype(np.int64) for k, t in pieces(split).items() if k.startswith(prefix)]
    if prefix == "bach/":
        tunes = [t for t in tunes if parts_of(t) == 4]
    return [t[:max_tokens] for t in tunes if len(t) >= 2]


def _inputs(tunes, enc):
    """Per tune: each member's probabilities, the grammar's masks and the memory's."""
    from engine.models import ModelLibrary

    library = ModelLibrary()
    nets = {}
    for name in MEMBERS:
        model = library.get(name)
        nets[name] = [softmax(model.sequence_logits(t[None, :-1].astype(np.int32))[0])
                      for t in tunes]
    masks, eight, refused = [], [], 0
    for t in tunes:
        m, r = grammar_masks(t, enc, parts_of(t))
        masks.append(m)
        refused += r
        eight.append(grammar_masks(t, enc)[0])
    memory = {name: [] for name in MEMORY_KEYS}
    for t in tunes:
        pm, longest = memory_distributions(t.tolist(), enc.vocab_size, MEMORY_ORDER, 1)
        memory["plain"].append((pm[1:], longest[1:]))
        for name, keys in memory_keys(t, enc).items():
            memory[name].append(keyed_memory_distributions(t, enc.vocab_size, MEMORY_ORDER,
                                                           keys))
    print(f"inputs ready: {len(tunes)} pieces; the grammar refuses {refused} of their "
          "tokens", file=sys.stderr)
    return nets, masks, memory, refused, eight


class KeyedMemory(MotifMemory):
    """The motif memory with each context keyed as the caller says: the root a context
    descends from is ``keys[t]`` of its first token t (the melody memory keys it by the
    phase of the token's step; a polyphonic step is several tokens, so here the phase of
    the step the token is in is given).  Every token is counted at once (the melody
    memory's wait for a phase period assumes a token a step)."""

    def __init__(self, vocab: int, max_order: int, keys: np.ndarray) -> None:
        self._keys = np.asarray(keys, dtype=np.int64).tolist()
        super().__init__(vocab, 1, max_order, period=int(max(self._keys)) + 1)

    def _root(self, step: int) -> int:
        return 1 + self._keys[step]

    def update(self, tokens) -> None:
        super().update(tokens)
        self._flush()


MEMORY_KEYS = ("plain", "beat", "beat and slot")


def memory_keys(tokens: np.ndarray, enc) -> dict[str, np.ndarray]:
    """The keyed memories' keys, ``[len + 1]`` each: "beat", the step's place in the
    beat (4 sixteenths); "beat and slot", that and the token's place in its step (0 for
    the top note, then down; STEP after the last)."""
    beat = step_phases(tokens, 4)
    starts = np.concatenate([[True], tokens == 0])  # a token right after a STEP, or the first
    index = np.arange(len(starts))
    slot = index - np.maximum.accumulate(np.where(starts, index, 0))
    return {"beat": beat, "beat and slot": beat * (enc.max_voices + 1) + slot}


def step_phases(tokens: np.ndarray, period: int) -> np.ndarray:
    """``[len + 1]``: the phase (step index mod ``period``) of the step each token is in,
    and of the token after the last."""
    steps = np.concatenate([[0], np.cumsum(tokens == 0)])
    return steps % period


def keyed_memory_distributions(tokens: np.ndarray, vocab: int, max_order: int,
                               keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`engine.generation.memory.memory_distributions` with contexts keyed by
    ``keys`` (:class:`KeyedMemory`): rows for tokens 1.., and the longest contexts seen."""
    memory = KeyedMemory(vocab, max_order, keys)
    out = np.empty((len(tokens), vocab))
    longest = np.empty(len(tokens), dtype=np.int64)
    for t, tok in enumerate(tokens.tolist()):
        out[t] = memory.distribution()[0]
        longest[t] = memory.longest[0]
        memory.update([tok])
    return out[1:], longest[1:]


def parts_of(tokens: np.ndarray) -> int:
    """The most notes any step of a piece holds: its number of parts, as the score that
    is scored says (four for a chorale; a part playing chords counts its notes)."""
    ends = np.nonzero(tokens == 0)[0]
    counts = np.diff(np.concatenate([[-1], ends])) - 1
    return int(max(1, counts.max(initial=1)))


def choose(tunes, enc, nets, masks, memory) -> dict:
    """Every choice, made on these tunes: the duet's weight and form, the temperature,
    the memory's adaptive table on top."""
    masked = {n: [renormalised(p, m) for p, m in zip(ps, masks)] for n, ps in nets.items()}
    lstm, wave = masked["poly-lstm"], masked["poly-wavenet"]
    duet = {}
    for w in DUET_WEIGHTS:
        duet[f"log-linear {w}"] = _bits([renormalised(log_linear(a, b, w), m)
                                         for a, b, m in zip(lstm, wave, masks)], tunes, enc)
        duet[f"linear {w}"] = _bits([w * a + (1 - w) * b for a, b in zip(lstm, wave)],
                                    tunes, enc)
    form, weight = min(duet, key=duet.get).rsplit(" ", 1)
    weight = float(weight)
    mixed = _mixture(lstm, wave, masks, form, weight, 1.0)
    temps = {}
    for temp in TEMPERATURES:
        temps[temp] = _bits(_mixture(lstm, wave, masks, form, weight, temp), tunes, enc)
    temperature = min(temps, key=temps.get)
    mixed = _mixture(lstm, wave, masks, form, weight, temperature)
    tables, alone = {}, {}
    for name, mems in memory.items():
        mem = [(renormalised(pm, m), longest) for (pm, longest), m in zip(mems, masks)]
        tables[name] = list(fit_adaptive(mixed, mem, tunes, MEMORY_ORDER).table)
        alone[name] = list(fit_adaptive(wave, mem, tunes, MEMORY_ORDER).table)
    return {"duet": {"form": form, "weight": weight, "tried": duet},
            "temperature": {"value": temperature, "tried": temps},
            "memory_tables": tables, "wavenet_memory_tables": alone}


def _mixture(lstm, wave, masks, form: str, weight: float, temperature: float):
    if form == "linear":
        out = [weight * a + (1 - weight) * b for a, b in zip(lstm, wave)]
        if temperature != 1.0:
            out = [softmax(np.log(np.maximum(p, 1e-300)) / temperature) for p in out]
    else:
        out = [log_linear(a, b, weight, temperature) for a, b in zip(lstm, wave)]
    return [renormalised(p, m) for p, m in zip(out, masks)]


def ladder(tunes, enc, inputs, choices: dict) -> dict:
    """Bits per note of ``tunes``, each idea on top of the last, with ``choices``."""
    from engine.generation.memory import mixing_for

    nets, masks, memory, refused, eight = inputs
    wave = nets["poly-wavenet"]
    rows = {name: _bits(ps, tunes, enc) for name, ps in
            (("poly-lstm alone", nets["poly-lstm"]), ("poly-wavenet alone", wave))}
    for name in MEMBERS:
        rows[f"{name} + its card's memory (today)"] = float(bits_per_note(
            nets[name], memory["plain"], tunes, mixing_for(name), enc))
    rows["poly-wavenet, grammar of 8 voices"] = _bits(
        [renormalised(p, m) for p, m in zip(wave, eight)], tunes, enc)
    wave_g = [renormalised(p, m) for p, m in zip(wave, masks)]
    rows["poly-wavenet, grammar of the piece's parts"] = _bits(wave_g, tunes, enc)
    mem_g = [(renormalised(pm, m), longest) for (pm, longest), m in zip(memory["plain"], masks)]
    rows["poly-wavenet, grammar, card's memory over the grammar"] = bits_per_note(
        wave_g, mem_g, tunes, mixing_for("poly-wavenet"), enc)
    for name, mems in memory.items():
        rows[f"poly-wavenet, grammar, memory ({name}) over the grammar refitted"] = \
            _with_memory(wave_g, mems, masks, tunes, choices["wavenet_memory_tables"][name], enc)
    lstm_g = [renormalised(p, m) for p, m in zip(nets["poly-lstm"], masks)]
    duet = choices["duet"]
    plain = _mixture(lstm_g, wave_g, masks, duet["form"], duet["weight"], 1.0)
    rows[f"duet ({duet['form']}, lstm {duet['weight']}), grammar"] = _bits(plain, tunes, enc)
    temp = choices["temperature"]["value"]
    mixed = _mixture(lstm_g, wave_g, masks, duet["form"], duet["weight"], temp)
    rows[f"duet, grammar, temperature {temp}"] = _bits(mixed, tunes, enc)
    for name, mems in memory.items():
        rows[f"duet, grammar, temperature, memory ({name}) refitted"] = _with_memory(
            mixed, mems, masks, tunes, choices["memory_tables"][name], enc)
    return {"pieces": len(tunes), "tokens": int(sum(len(t) for t in tunes)),
            "notes": int(sum(enc.count_onsets(t[1:]) for t in tunes)),
            "refused_by_grammar": refused,
            "bits_per_note": {k: round(v, 4) for k, v in rows.items()}}


def _with_memory(p_net, memory, masks, tunes, table, enc) -> float:
    """Bits per note of ``p_net`` mixed with ``memory`` (renormalised over ``masks``) by
    the adaptive ``table``."""
    mixing = Mixing("adaptive", max_order=MEMORY_ORDER, table=tuple(table))
    mem = [(renormalised(pm, m), longest) for (pm, longest), m in zip(memory, masks)]
    return float(bits_per_note(p_net, mem, tunes, mixing, enc))


def study(split: str, prefix: str, fit_on: str, max_tokens: int,
          report_tokens: int | None = None) -> dict:
    from engine.encodings.polyphony import PolyphonyEncoding

    enc = PolyphonyEncoding()
    fit_tunes = _tunes(fit_on, "", max_tokens)
    fit_inputs = _inputs(fit_tunes, enc)
    choices = choose(fit_tunes, enc, *fit_inputs[:3])
    report = {"fit_on": {"split": fit_on, "max_tokens": max_tokens, **choices},
              fit_on: ladder(fit_tunes, enc, fit_inputs, choices)}
    if split != fit_on or prefix:
        tunes = _tunes(split, prefix, report_tokens or max_tokens)
        report[f"{split} {prefix}".strip()] = ladder(tunes, enc, _inputs(tunes, enc), choices)
    return report


def add_parser(sub) -> argparse.ArgumentParser:
    """The ``part-bits-study`` sub-command of ``python -m training``."""
    ap = sub.add_parser("part-bits-study", help="study: what lowers the part models' bits "
                                                "per note (grammar, duet, temperature, "
                                                "memory)",
                        description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="validation", help="the split reported")
    ap.add_argument("--prefix", default="", help="only ids starting so (bach/: the "
                                                 "four-part chorales)")
    ap.add_argument("--fit-on", default="validation", help="the split every choice is made on")
    ap.add_argument("--max-tokens", type=int, default=MAX_TOKENS,
                    help="each piece's first N tokens (as part-memory-sweep)")
    ap.add_argument("--report-max-tokens", type=int,
                    help="the reported split's pieces' first N tokens (default: as "
                         "--max-tokens; 0: whole pieces, as main.py score scores them)")
    ap.add_argument("--out", help="the report's JSON (default models/memory/part_bits_SPLIT"
                                  ".json)")
    ap.set_defaults(run=lambda args, argv: run(args))
    return ap


def run(args: argparse.Namespace) -> int:
    from engine.formats import write_bytes_atomic

    whole = args.report_max_tokens == 0
    report = study(args.split, args.prefix, args.fit_on, args.max_tokens,
                   sys.maxsize if whole else args.report_max_tokens)
    name = (f"part_bits_{args.split}{'_' + args.prefix.strip('/') if args.prefix else ''}"
            f"{'_whole' if whole else ''}.json")
    out = Path(args.out) if args.out else ROOT / "models" / "memory" / name
    write_bytes_atomic(out, (json.dumps(report, indent=1) + "\n").encode())
    print(json.dumps(report, indent=1))
    return 0
