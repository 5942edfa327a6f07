"""Torn writes: a writer killed with SIGKILL in the middle of saving leaves the old file
or the new one, never a mix.

A child process saves two big MIDI files (12 MB each) over the same target, one after
the other, as fast as it can, through ``write_bytes_atomic`` (what ``song_to_midi_file``
and the autosave use).  The test kills it at random moments, many times, and after each
kill the target must be byte for byte one of the two versions.  The same harness run
with a naive ``open(path, "wb").write`` writer does find torn files, which shows that
the kills really land in the middle of writes.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The writer child: builds two different valid MIDI files of ~12 MB (a real header and
# a track of a few million notes under running status), then saves them alternately.
WRITER = textwrap.dedent("""
    import os, struct, sys
    sys.path.insert(0, {repo!r})
    from engine.formats import song_to_midi_bytes, write_bytes_atomic
    from engine.song import Note, melody_song

    def big(pitch):
        head = song_to_midi_bytes(melody_song([Note(pitch, 0, 480)]))
        pair = bytes((0x60, pitch, 0, 0x60, pitch, 90))
        body = b"\\x00\\x90" + bytes((pitch, 90)) + pair * 2_000_000
        track = b"MTrk" + struct.pack(">I", len(body) + 4) + body + b"\\x00\\xff\\x2f\\x00"
        ntracks = struct.unpack(">H", head[10:12])[0] + 1
        return head[:10] + struct.pack(">H", ntracks) + head[12:] + track

    versions = [big(60), big(67)]
    target = sys.argv[1]
    naive = sys.argv[2] == "naive"
    write_bytes_atomic(target, versions[0])
    print("ready", flush=True)
    i = 1
    while True:
        data = versions[i % 2]
        print("begin", i % 2, flush=True)
        if naive:
            with open(target, "wb") as f:
                for k in range(0, len(data), 1 << 20):
                    f.write(data[k:k + (1 << 20)])
                    f.flush()
        else:
            write_bytes_atomic(target, data)
        print("end", i % 2, flush=True)
        i += 1
""")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions(tmp_path: Path) -> set[str]:
    """The digests of the two versions, made by the same code in this process."""
    code = WRITER.split("versions = ")[0] + textwrap.dedent("""
        import hashlib
        for v in (big(60), big(67)):
            print(hashlib.sha256(v).hexdigest(), len(v))
    """)
    out = subprocess.run([sys.executable, "-c", code.format(repo=str(REPO))], check=True,
                         capture_output=True, text=True, timeout=300).stdout.split()
    return {out[0], out[2]}


def _kill_while_saving(tmp_path: Path, mode: str, kills: int,
                       rng: random.Random) -> tuple[int, int, int]:
    """Kill the writer ``kills`` times; return (intact, torn, kills inside a write)."""
    target = tmp_path / f"song-{mode}.mid"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(repo=str(REPO)))
    intact = torn = mid_write = 0
    good = _versions(tmp_path)
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, str(script), str(target), mode],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        last = [line.split()[0] for line in proc.stdout.read().splitlines()][-1:]
        proc.stdout.close()
        if last == ["begin"]:
            mid_write += 1
        if _digest(target.read_bytes()) in good:
            intact += 1
        else:
            torn += 1
    return intact, torn, mid_write


@pytest.mark.slow
def test_killed_atomic_writer_leaves_old_or_new_file_intact(tmp_path: Path) -> None:
    intact, torn, mid_write = _kill_while_saving(tmp_path, "atomic", 10, random.Random(7))
    print(f"atomic writer: {intact} intact, {torn} torn, {mid_write} kills inside a save")
    assert torn == 0
    assert intact == 10
    assert mid_write >= 3, "the kills should land inside saves, or the test proves nothing"
    # a killed writer may leave its temp file; it is never the target and is hidden
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert all(name.startswith(".song-atomic.mid.") for name in leftovers)


@pytest.mark.slow
def test_the_harness_does_catch_a_naive_writer_tearing_the_file(tmp_path: Path) -> None:
    """The control: without the temp-file-and-rename dance, kills tear the file."""
    intact, torn, mid_write = _kill_while_saving(tmp_path, "naive", 6, random.Random(3))
    print(f"naive writer: {intact} intact, {torn} torn, {mid_write} kills inside a save")
    assert torn >= 1, f"no torn file in 6 kills ({mid_write} inside a write)"


def test_atomic_write_keeps_permissions_and_symlinks(tmp_path):
    import os
    import stat

    from engine.formats import write_bytes_atomic

    fresh = tmp_path / "fresh.mid"
    write_bytes_atomic(fresh, b"one")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    fresh.chmod(0o640)
    write_bytes_atomic(fresh, b"two")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640 and fresh.read_bytes() == b"two"
    link = tmp_path / "link.mid"
    link.symlink_to(fresh)
    write_bytes_atomic(link, b"three")
    assert link.is_symlink() and fresh.read_bytes() == b"three"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
