"""The player thread's timing aids while MIDI clock is sent (issue 28): the
lowered switch interval (shared with the accompanist, restored by the last one out), the
short spin before each message, and SCHED_FIFO where the system grants it.  Real
threads on the real clock into a MessageLog; nothing here asserts a time.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from engine.live.clock import SYNC_SEND
from engine.live.player import LIVE_SWITCH_INTERVAL_S, Player, live_switch_interval
from engine.live.ports import MessageLog
from engine.song import Note, melody_song


@pytest.fixture
def default_interval():
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(before)


def wait_for(condition, limit_s: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``limit_s`` passes (a bound, not a figure)."""
    give_up = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.005)
    return True


def test_overlapping_live_threads_restore_the_interval_they_found(default_interval):
    first, second = live_switch_interval(), live_switch_interval()
    first.__enter__()
    assert sys.getswitchinterval() == pytest.approx(LIVE_SWITCH_INTERVAL_S)
    second.__enter__()
    first.__exit__(None, None, None)  # the first out: the second still runs live
    assert sys.getswitchinterval() == pytest.approx(LIVE_SWITCH_INTERVAL_S)
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(default_interval)


def test_sending_clock_lowers_the_interval_only_while_it_plays(default_interval):
    song = melody_song([Note(60, 0, 480), Note(62, 480, 480)], bpm=120)
    log = MessageLog()
    player = Player(log)
    player.set_sync(SYNC_SEND)
    player.play(song)
    try:
        assert wait_for(lambda: sys.getswitchinterval() < default_interval)
    finally:
        player.stop()
    assert sys.getswitchinterval() == pytest.approx(default_interval)
    assert any(m.type == "clock" for _, m in log.messages)


def test_internal_playback_keeps_the_interval(default_interval):
    song = melody_song([Note(60, 0, 240), Note(62, 240, 240)], bpm=240)
    finished = threading.Event()
    player = Player(MessageLog())
    player.on_finished = finished.set
    seen = []
    player.on_position = lambda tick: seen.append(sys.getswitchinterval())
    player.play(song)
    assert finished.wait(10)
    assert seen and all(s == pytest.approx(default_interval) for s in seen)


def test_a_clock_standing_still_cannot_hold_the_spinning_thread():
    """A clock of the caller's that never reaches the next message: the thread spins a
    bounded while at a time, and stop() still ends it."""
    song = melody_song([Note(60, 0, 480), Note(62, 480, 480)], bpm=120)
    now = [0.0]
    player = Player(MessageLog(clock=lambda: now[0]), clock=lambda: now[0])
    player.set_sync(SYNC_SEND)
    player.play(song)
    now[0] = 0.0205 - player.spin_s / 2  # half a spin before the second clock, for ever
    time.sleep(0.05)
    thread = player._thread
    player.stop()
    assert thread is not None and not thread.is_alive()


def fifo_allowed() -> bool:
    result = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            result.append(True)
        except (AttributeError, OSError):
            result.append(False)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return result[0]


def test_the_scheduler_thread_says_whether_it_got_sched_fifo():
    song = melody_song([Note(60, 0, 120)], bpm=240)
    finished = threading.Event()
    player = Player(MessageLog())
    player.on_finished = finished.set
    assert player.realtime is None
    player.play(song)
    assert finished.wait(10)
    assert player.realtime is fifo_allowed()
