"""Mutations of real files, shared by the hypothesis tests and the long fuzz run.

Every mutator takes a ``random.Random`` (hypothesis hands one in through
``st.randoms()``; the long run seeds its own), the seed's bytes and a pool of other
seeds to splice from, and returns new bytes.  Generic mutators (bit flips, truncation,
splices) find parser bugs at random; format-aware ones aim at what crashes music
readers in practice: huge chunk lengths, absurd ppq and tempo, millions of zero-length
events, huge numbers where a duration or divisor belongs, and zip bombs in .mxl files.
"""

from __future__ import annotations

import io
import random
import re
import struct
import zipfile
from typing import Callable, Sequence

from engine.formats import vlq

Mutator = Callable[[random.Random, bytes, Sequence[bytes]], bytes]

# the most bytes a repeating mutator adds, and the largest input mutate() returns: big
# enough to test the limits (the floods are 6 MB), small enough for the fuzzer's memory
MAX_GROWTH = 2 * 2**20
MAX_INPUT = 16 * 2**20

# numbers that break naive arithmetic: zero, negative, huge, float-ish, overflowing
NASTY_NUMBERS = (b"0", b"-1", b"00", b"1e308", b"999999999", b"4294967296",
                 b"18446744073709551617", b"9" * 60, b"0.000001", b"-0", b"NaN", b"1/0",
                 b"1e999", b"-1e999", b"Infinity")


# ---------------------------------------------------------------------------------------
# generic byte mutations
# ---------------------------------------------------------------------------------------


def bit_flips(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Flip 1-16 random bits: the classic damage of a bad disk or a bad download."""
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def byte_sets(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Overwrite a few bytes with boundary values (0x00, 0x7F, 0x80, 0xFF)."""
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.choice((0x00, 0x7F, 0x80, 0xFF, 0x3C, 0x22))
    return bytes(out)


def truncate(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Cut the file short, as an interrupted copy does."""
    return data[: rng.randrange(len(data) + 1)] if data else data


def splice(rng: random.Random, data: bytes, pool: Sequence[bytes]) -> bytes:
    """The head of this file glued to the tail of another (or of itself)."""
    other = rng.choice(pool) if pool else data
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1):]


def duplicate_chunk(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Repeat a slice of the file many times (long runs of the same structure)."""
    if not data:
        return data
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 256))
    times = rng.choice((2, 10, 100, 1000))
    times = max(1, min(times, MAX_GROWTH // (b - a)))
    return data[:b] + data[a:b] * times + data[b:]


def delete_chunk(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    if not data:
        return data
    a = rng.randrange(len(data))
    return data[:a] + data[a + rng.randint(1, 64):]


def nasty_number(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Replace a run of digits with zero, a negative or a huge number: durations,
    divisions, lengths, tempi, meters and tuplets in the text formats."""
    runs = list(re.finditer(rb"\d+", data))
    if not runs:
        return data
    out = data
    for m in sorted(rng.sample(runs, min(len(runs), rng.randint(1, 3))),
                    key=lambda m: m.start(), reverse=True):
        out = out[: m.start()] + rng.choice(NASTY_NUMBERS) + out[m.end():]
    return out


def repeat_line(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Repeat one line thousands of times: a score with a huge number of events."""
    lines = data.split(b"\n")
    if not lines:
        return data
    i = rng.randrange(len(lines))
    times = rng.choice((10, 100, 2_000))
    times = max(1, min(times, MAX_GROWTH // (len(lines[i]) + 1)))
    return b"\n".join(lines[:i] + [lines[i]] * times + lines[i:])


GENERIC: tuple[Mutator, ...] = (bit_flips, byte_sets, truncate, splice, duplicate_chunk,
                                delete_chunk)
TEXT: tuple[Mutator, ...] = GENERIC + (nasty_number, nasty_number, repeat_line)


# ---------------------------------------------------------------------------------------
# MIDI-aware mutations
# ---------------------------------------------------------------------------------------


def _chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset of the chunk header, chunk id, declared length) for each chunk."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        cid, length = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        out.append((pos, cid, length))
        pos += 8 + length
    return out


def midi_huge_length(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Declare an absurd length for MThd or an MTrk chunk."""
    chunks = _chunks(data)
    if not chunks:
        return data
    pos, _, _ = rng.choice(chunks)
    value = rng.choice((0, 1, 0x7FFFFFFF, 0xFFFFFFFF, len(data) * 2, 5))
    return data[:pos + 4] + struct.pack(">I", value) + data[pos + 8:]


def midi_absurd_header(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Absurd format, track count or division (ppq 0, 1, 0x7FFF, SMPTE)."""
    if len(data) < 14:
        return data
    field = rng.choice(("format", "ntracks", "division"))
    values = {"format": (0, 1, 2, 3, 0xFFFF), "ntracks": (0, 1, 0xFFFF, 500),
              "division": (0, 1, 2, 0x7FFF, 0x8000, 0xE250, 0xFFFF, 96)}[field]
    offset = {"format": 8, "ntracks": 10, "division": 12}[field]
    return data[:offset] + struct.pack(">H", rng.choice(values)) + data[offset + 2:]


def _track(body: bytes) -> bytes:
    return b"MTrk" + struct.pack(">I", len(body)) + body


def _with_track(data: bytes, body: bytes) -> bytes:
    """Append a track to a real file and count it in the header."""
    if len(data) < 14 or data[:4] != b"MThd":
        return data + _track(body)
    ntracks = struct.unpack(">H", data[10:12])[0]
    fmt = struct.unpack(">H", data[8:10])[0]
    header = data[:8] + struct.pack(">HH", max(fmt, 1) if fmt != 2 else 2,
                                    min(ntracks + 1, 0xFFFF)) + data[12:]
    return header + _track(body)


def midi_absurd_tempo(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """A track of set_tempo events with 0, 1 and 0xFFFFFF microseconds per beat."""
    body = b""
    for _ in range(rng.randint(1, 20)):
        tempo = rng.choice((0, 1, 0xFFFFFF, 500_000))
        body += vlq(rng.choice((0, 0, 1, 0x0FFFFFFF))) + b"\xff\x51\x03" + tempo.to_bytes(3, "big")
    return _with_track(data, body + b"\x00\xff\x2f\x00")


def midi_zero_length_flood(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Hundreds of thousands to a million zero-length notes (running status), the
    shape of a file written by a buggy sequencer or made to hurt."""
    # a million events is a 6 MB file that takes mido ~12 s of CPU: drawn rarely, so
    # the long run still feeds thousands of other inputs
    count = rng.choices((1_000, 10_000, 100_000, 1_000_000), (60, 30, 9, 1))[0]
    pitch = rng.randrange(128)
    # note on, then note on with velocity 0, both at delta 0, under running status
    pair = b"\x00" + bytes((pitch, 0)) + b"\x00" + bytes((pitch, 100))
    body = b"\x00\x90" + bytes((pitch, 100)) + pair * count
    return _with_track(data, body + b"\x00\xff\x2f\x00")


def midi_long_deltas(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Notes separated by the largest delta times a file can hold (song length)."""
    body = b""
    for _ in range(rng.randint(1, 200)):
        body += (vlq(0x0FFFFFFF) + b"\x90\x3c\x40" + vlq(rng.choice((0, 0x0FFFFFFF)))
                 + b"\x80\x3c\x00")
    return _with_track(data, body + b"\x00\xff\x2f\x00")


def midi_broken_event(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """A track with a sysex or meta event whose length runs past the end of the file,
    or a data byte with no running status before it."""
    body = rng.choice((b"\x00\xf0\x8f\xff\xff\x7f", b"\x00\xff\x03\x8f\xff\xff\x7f",
                       b"\x00\x3c\x40", b"\x00\xff\x51\x00", b"\x00\xff\x58\x01\x04",
                       b"\x00\xf7\x05\x01", b"\x00\xff\x2f"))
    return _with_track(data, body)


MIDI: tuple[Mutator, ...] = GENERIC + (midi_huge_length, midi_absurd_header, midi_absurd_tempo,
                                       midi_zero_length_flood, midi_long_deltas,
                                       midi_broken_event, midi_huge_length, midi_absurd_header)


# ---------------------------------------------------------------------------------------
# compressed MusicXML (.mxl, a zip archive)
# ---------------------------------------------------------------------------------------


def _rezip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members.items():
            z.writestr(name, content)
    return buf.getvalue()


def mxl_inner(rng: random.Random, data: bytes, pool: Sequence[bytes]) -> bytes:
    """Mutate the score inside the archive and zip it again, so that the damage
    reaches the XML parser instead of stopping at the zip layer."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = {i.filename: z.read(i) for i in z.infolist()}
    except Exception:  # an archive damaged by an earlier mutation: damage it further
        return bit_flips(rng, data, pool)
    scores = [n for n in members if not n.startswith("META-INF")]
    if not scores:
        return data
    name = rng.choice(scores)
    members[name] = rng.choice(TEXT)(rng, members[name], pool)
    return _rezip(members)


def mxl_bomb(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """A zip bomb: a member that inflates to hundreds of MB from a few hundred KB."""
    size = rng.choices((40, 300), (9, 1))[0] * 2**20  # past the 32 MB unpacked limit
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = {i.filename: z.read(i) for i in z.infolist()}
    except Exception:  # an archive damaged by an earlier mutation: bomb a fresh one
        members = {}
    scores = [n for n in members if not n.startswith("META-INF")] or ["score.xml"]
    bomb = rng.choice(scores)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members.items():
            if name != bomb:
                z.writestr(name, content)
        with z.open(bomb, "w", force_zip64=True) as f:  # streamed: the fuzzer stays small
            f.write(b"<score-partwise>")
            block = b" " * 2**20
            for _ in range(size // 2**20):
                f.write(block)
    return buf.getvalue()


MXL: tuple[Mutator, ...] = GENERIC + (mxl_inner, mxl_inner, mxl_inner, mxl_bomb)


# ---------------------------------------------------------------------------------------
# model cards (JSON)
# ---------------------------------------------------------------------------------------


def card_field(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Replace a JSON value with one of the wrong type, or delete the key."""
    import json

    try:
        card = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return data
    paths: list[list] = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + [i])

    walk(card, [])
    path = rng.choice(paths[1:]) if len(paths) > 1 else []
    if not path:
        return data
    parent = card
    for key in path[:-1]:
        parent = parent[key]
    replacement = rng.choice((None, -1, 0, 10**30, 1e308, float("inf"), float("nan"), "12",
                              "", "x" * 10_000, [], {},
                              True, "../outside.onnx", "/etc/passwd", [10**9, 10**9],
                              "model.onnx\x00.json", "DELETE"))
    if replacement == "DELETE" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return json.dumps(card).encode()


def card_deep_nesting(rng: random.Random, data: bytes, _pool: Sequence[bytes]) -> bytes:
    """Deeply nested JSON, which makes recursive code run out of stack."""
    depth = rng.choice((1_000, 100_000))
    return data.rstrip()[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}"


CARD: tuple[Mutator, ...] = TEXT + (card_field, card_field, card_field, card_deep_nesting)


MUTATORS: dict[str, tuple[Mutator, ...]] = {
    "midi": MIDI,
    "abc": TEXT,
    "musicxml": TEXT,  # .mxl seeds use MXL instead, see mutators_for()
    "kern": TEXT,
    "card": CARD,
}


def mutators_for(reader: str, suffix: str) -> tuple[Mutator, ...]:
    if suffix == ".mxl":
        return MXL
    return MUTATORS[reader]


# mutators that make inputs of several MB: the long run uses them, the CI slice tests
# them once each (tests/fuzz/test_limits.py) instead of at random
HEAVY: frozenset[Mutator] = frozenset({midi_zero_length_flood, mxl_bomb})


def mutate(rng: random.Random, reader: str, suffix: str, data: bytes,
           pool: Sequence[bytes], light: bool = False) -> tuple[str, bytes]:
    """Apply 1-3 mutations; return their names (for the report) and the bytes.
    ``light`` leaves out the heavy mutators, for the short CI slice."""
    names = []
    choices = [m for m in mutators_for(reader, suffix) if not (light and m in HEAVY)]
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        m = rng.choice(choices)
        mutated = m(rng, data, pool)
        if len(mutated) > MAX_INPUT:
            continue  # chains of growing mutations: keep the input a reader may be given
        data = mutated
        names.append(m.__name__)
    return "+".join(names) or "none", data
