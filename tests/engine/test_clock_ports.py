"""MIDI clock through real ports (JACK or ALSA), both ways, and broken clock streams.

A "DAW" here is a real virtual output port whose clock a thread sends; Continuo's
player listens to it through a real input and plays into a real sink.  Skipped, with
the reason, where no MIDI system runs.  These tests check behaviour only; the timing
figures are bench/midi_clock.py's.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import mido
import pytest

from engine.live.clock import CLOCKS_PER_QUARTER, SYNC_FOLLOW, SYNC_SEND
from engine.live.player import Player
from engine.song import Note, melody_song
from tests.engine import test_ports
from tests.engine.test_ports import Sink, find, unique

# the fixtures: the running MIDI system (or a skip), and a real input port that keeps all
# it receives
midi_system, sink = test_ports.midi_system, test_ports.sink

pytestmark = pytest.mark.ports


class Daw:
    """Another program's clock: a real virtual output; ``run(bpm)`` sends Timing Clock
    from a thread until ``halt()``."""

    def __init__(self, system) -> None:
        self.client = unique("Daw")
        self.port = system.open_virtual_output("clock", client_name=self.client)
        self.input_name = find(system.input_names(), self.client)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def send(self, kind: str, **kw) -> None:
        self.port.send(mido.Message(kind, **kw))

    def run(self, bpm: float = 120.0) -> None:
        self.halt()
        self._stop.clear()
        interval = 60 / bpm / CLOCKS_PER_QUARTER

        def tick() -> None:
            due = time.monotonic()
            while not self._stop.is_set():
                self.port.send(mido.Message("clock"))
                due += interval
                self._stop.wait(max(0.0, due - time.monotonic()))

        self._thread = threading.Thread(target=tick, daemon=True)
        self._thread.start()

    def halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None

    def close(self) -> None:
        self.halt()
        self.port.close()


class Followed(Player):
    def __init__(self, output) -> None:
        super().__init__(output)
        self.errors: list[str] = []
        self.stopped = threading.Event()

    def on_error(self, message: str) -> None:
        self.errors.append(message)

    def on_playing_changed(self, playing: bool) -> None:
        if not playing:
            self.stopped.set()


@pytest.fixture
def daw(midi_system):
    d = Daw(midi_system)
    yield d
    d.close()


@pytest.fixture
def rig(midi_system, sink, daw):
    """(player following ``daw``'s clock and playing into ``sink``, daw, sink)."""
    out = midi_system.open_output(sink.name)
    player = Followed(out)
    player.set_sync(SYNC_FOLLOW)
    port = midi_system.open_input(daw.input_name, callback=player.feed_clock,
                                  clock=player.clock)
    time.sleep(0.2)  # let the connections settle
    yield player, daw, sink
    port.close()
    player.stop()
    out.close()


def eighths(n: int = 64, length: int = 200):
    return melody_song([Note(40 + i % 48, i * 240, length) for i in range(n)], bpm=60)


def ons(msgs) -> list[int]:
    return [m.note for m in msgs if m.type == "note_on" and m.velocity]


def nothing_left_sounding(msgs) -> None:
    on = Counter((m.channel, m.note) for m in msgs if m.type == "note_on" and m.velocity)
    off = Counter((m.channel, m.note) for m in msgs
                  if m.type == "note_off" or (m.type == "note_on" and not m.velocity))
    for key, count in on.items():
        assert off[key] >= count, f"note {key} was left sounding"


def silenced(sink: Sink, since: int = 0, count: int = 1) -> list[mido.Message]:
    """Everything received, once ``count`` All Notes Off arrived after ``since`` (a busy
    machine can hold JACK's delivery back for a while) and nothing more came."""
    def offs() -> int:
        return sum(1 for _, m in sink.received[since:]
                   if m.type == "control_change" and m.control == 123)

    assert wait_until(lambda: offs() >= count, 10), "no All Notes Off arrived"
    return sink.settle(0.3)


def wait_for_type(sink: Sink, kind: str, count: int = 1) -> list[mido.Message]:
    assert wait_until(lambda: sum(m.type == kind for _, m in sink.received) >= count, 10), \
        f"{count} {kind} did not arrive"
    return sink.settle(0.3)


def wait_until(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


# ---- following -----------------------------------------------------------------------
def test_start_stop_and_continue_from_another_program(rig):
    player, daw, sink = rig
    player.set_follow_song(eighths())
    daw.send("start")
    daw.run(120)  # eighths every 0.25 s
    assert wait_until(lambda: len(ons(sink.settle(0.0))) >= 4)
    daw.send("stop")
    daw.halt()
    assert wait_until(lambda: not player.is_playing())
    played = ons(silenced(sink))
    assert played == [40 + i for i in range(len(played))]  # from the top, in order
    nothing_left_sounding(sink.settle(0.0))
    stopped_at = player.position_tick
    assert stopped_at >= 240 * (len(played) - 1)
    before = len(sink.received)
    daw.send("continue")
    daw.run(120)
    assert wait_until(lambda: len(ons([m for _, m in sink.received[before:]])) >= 2)
    daw.send("stop")
    daw.halt()
    resumed = ons([m for _, m in sink.received[before:]])
    # where the sender stopped, not the top again (a note the Stop overtook by a hair
    # may sound again: it was due at the clock the sender stopped on)
    assert resumed[0] in (40 + len(played) - 1, 40 + len(played))
    assert player.errors == []


def test_song_position_then_continue_plays_from_that_position(rig):
    player, daw, sink = rig
    player.set_follow_song(eighths())
    daw.send("songpos", pos=32)  # bar 3: eighth number 16
    assert wait_until(lambda: player.position_tick == 32 * 120)
    daw.send("continue")
    daw.run(120)
    assert wait_until(lambda: len(ons(sink.settle(0.0))) >= 2)
    daw.send("stop")
    daw.halt()
    assert ons(sink.settle(0.3))[:2] == [56, 57]


def test_a_clock_that_stops_arriving_stops_playback_with_nothing_sounding(rig):
    player, daw, sink = rig
    player.set_follow_song(melody_song([Note(50 + i, i * 480, 1900) for i in range(16)]))
    daw.send("start")
    daw.run(120)
    assert wait_until(lambda: len(ons(sink.settle(0.0))) >= 2)
    daw.halt()  # no Stop: the DAW froze or the cable was pulled
    assert player.stopped.wait(3)
    assert not player.is_playing()
    nothing_left_sounding(silenced(sink))
    assert player.errors == ["The MIDI clock stopped arriving (nothing for 0.5 s); "
                             "playback stopped."]


# ---- broken streams ------------------------------------------------------------------------
def test_clock_with_no_start_plays_nothing_but_gives_the_tempo(rig):
    player, daw, sink = rig
    player.set_follow_song(eighths())
    daw.run(100)
    assert wait_until(lambda: player.followed_tempo() is not None
                      and abs(player.followed_tempo() - 100) < 2)
    daw.halt()
    time.sleep(0.7)  # longer than the timeout: a stopped transport has nothing to lose
    assert not player.is_playing() and ons(sink.settle(0.0)) == [] and player.errors == []


def test_song_position_while_playing_relocates(rig):
    player, daw, sink = rig
    player.set_follow_song(eighths())
    daw.send("start")
    daw.run(120)
    assert wait_until(lambda: len(ons(sink.settle(0.0))) >= 2)
    mark = len(sink.received)
    daw.send("songpos", pos=64)  # not allowed while playing; it happens anyway
    assert wait_until(lambda: len(ons([m for _, m in sink.received[mark:]])) >= 2)
    daw.send("stop")
    daw.halt()
    assert wait_until(lambda: not player.is_playing())
    after = ons(silenced(sink, mark, 2)[mark:])  # the jump's silence, then the stop's
    assert 40 + 32 in after[:2]  # the eighth at 16th 64 (maybe one before it was due)
    assert after[after.index(72):][:2] == [72, 73]
    assert player.is_playing() is False and player.errors == []
    nothing_left_sounding(sink.settle(0.0))


def test_a_burst_of_ten_thousand_clocks_never_hangs(rig):
    player, daw, sink = rig
    player.set_follow_song(eighths(400))
    daw.send("start")
    daw.run(120)
    assert wait_until(lambda: len(ons(sink.settle(0.0))) >= 2)
    for _ in range(10_000):
        daw.send("clock")
    time.sleep(0.3)
    daw.send("stop")
    assert wait_until(lambda: not player.is_playing(), 5)
    daw.halt()
    msgs = silenced(sink)
    nothing_left_sounding(msgs)
    assert player.errors == []
    # the player skipped what the burst jumped over instead of playing it all at once
    assert len(ons(msgs)) < 60


def test_the_clock_port_disappearing_stops_playback(midi_system, sink):
    out = midi_system.open_output(sink.name)
    player = Followed(out)
    player.set_sync(SYNC_FOLLOW)
    player.set_follow_song(melody_song([Note(50 + i, i * 480, 1900) for i in range(16)]))
    daw = Daw(midi_system)
    port = midi_system.open_input(daw.input_name, callback=player.feed_clock,
                                  clock=player.clock)
    try:
        time.sleep(0.2)
        daw.send("start")
        daw.run(120)
        assert wait_until(lambda: len(ons(sink.settle(0.0))) >= 1)
        daw.close()  # the other program quits
        assert player.stopped.wait(3)
        nothing_left_sounding(silenced(sink))
        assert player.errors and "stopped arriving" in player.errors[0]
    finally:
        port.close()
        player.stop()
        out.close()


# ---- sending -------------------------------------------------------------------------------
def test_sent_clock_reaches_another_program_with_start_and_stop(midi_system, sink):
    out = midi_system.open_output(sink.name)
    player = Followed(out)
    player.set_sync(SYNC_SEND)
    song = melody_song([Note(60 + i, i * 240, 240) for i in range(4)], bpm=240)  # 0.5 s
    try:
        player.play(song)
        assert player.stopped.wait(5)
        msgs = [m for m in wait_for_type(sink, "stop") if m.type != "control_change"]
    finally:
        out.close()
    kinds = [m.type for m in msgs if m.type != "program_change"]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    assert kinds.count("clock") == 2 * CLOCKS_PER_QUARTER
    assert ons(msgs) == [60, 61, 62, 63]


def test_sent_loop_jumps_with_stop_song_position_continue(midi_system, sink):
    out = midi_system.open_output(sink.name)
    player = Followed(out)
    player.set_sync(SYNC_SEND)
    song = melody_song([Note(60 + i, i * 240, 200) for i in range(8)], bpm=240)
    try:
        player.play(song, 480, 960, loop=True)  # one quarter, 0.25 s a pass
        time.sleep(0.7)
        player.stop()

        # every pass opens with a Song Position and each wrap closes one with a Stop, so
        # the last Stop (the player's own) has come once the two counts are equal; two
        # wraps' Stops alone could be counted before it, and JACK can hold a message
        # back for a second on a loaded machine
        def kinds_now():
            return [m.type for _, m in list(sink.received)]

        assert wait_until(lambda: kinds_now().count("stop") == kinds_now().count("songpos")
                          >= 2, 10), kinds_now()
        msgs = [m for m in sink.settle(0.3)
                if m.type in ("clock", "start", "stop", "continue", "songpos")]
    finally:
        out.close()
    kinds = [m.type for m in msgs]
    assert kinds[:3] == ["songpos", "continue", "clock"]
    wrap = kinds.index("stop")
    assert kinds[wrap:wrap + 4] == ["stop", "songpos", "continue", "clock"]
    assert kinds[:wrap].count("clock") == CLOCKS_PER_QUARTER
    assert {m.pos for m in msgs if m.type == "songpos"} == {4}
    assert kinds[-1] == "stop"


def test_sending_clock_into_a_port_that_goes_away_stops_with_a_sentence(midi_system):
    gone = Sink(midi_system)
    out = midi_system.open_output(gone.name)
    player = Followed(out)
    player.set_sync(SYNC_SEND)
    try:
        player.play(melody_song([Note(60, i * 480, 400) for i in range(100)]))
        time.sleep(0.3)
        gone.close()
        assert player.stopped.wait(3)
        assert player.errors == [f"The MIDI port '{gone.name}' went away; playback stopped."]
    finally:
        player.stop()
        out.close()
