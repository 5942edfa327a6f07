"""MIDI clock without ports: the sent schedule on a hand-moved clock, and the follower
fed arrival times made the way JACK delivers them (once per 256-frame period).

Real ports are in test_clock_ports.py; timing figures are in bench/midi_clock.py.
"""

from __future__ import annotations

import math

import mido
import pytest

from engine.errors import ContinuoError
from engine.live.clock import (CLOCKS_PER_QUARTER, SYNC_FOLLOW, SYNC_SEND, ClockFollower,
                               snap_to_sixteenth)
from engine.live.player import Player
from engine.live.ports import MessageLog
from engine.song import Note, Song, TempoChange, TempoMap, Track, melody_song
from tests.engine.test_player import Clock, run

PERIOD = 256 / 48000


def jack_arrival(sent: float) -> float:
    """When JACK hands over a message sent at ``sent``: the next period's start."""
    return (math.floor(sent / PERIOD) + 1) * PERIOD + 0.0002


def realtime(log: MessageLog) -> list[tuple[float, str]]:
    return [(round(t - 100.0, 6), m.type) for t, m in log.messages
            if m.type in ("clock", "start", "stop", "continue", "songpos")]


def sender(bpm: float = 120.0):
    clock = Clock()
    log = MessageLog(clock=clock)
    player = Player(log, clock=clock)
    player.set_sync(SYNC_SEND)
    return clock, log, player


# ---- sending ---------------------------------------------------------------------------
def test_sent_clock_starts_ticks_24_a_quarter_at_ideal_times_and_stops():
    song = melody_song([Note(60, 0, 960)], bpm=120)  # two quarters
    clock, log, player = sender()
    player.play(song, background=False)
    run(player, clock, 1.2)
    got = realtime(log)
    assert got[0] == (0.0, "start")
    ticks = [t for t, kind in got if kind == "clock"]
    assert len(ticks) == 2 * CLOCKS_PER_QUARTER
    assert ticks == [pytest.approx(k * 0.5 / 24, abs=0.0011) for k in range(48)]
    assert got[-1][1] == "stop" and not player.is_playing()
    # the clock goes out before a note due at the same instant
    first = [m.type for _, m in log.messages if m.type in ("clock", "note_on")][:2]
    assert first == ["clock", "note_on"]


def test_sent_clock_follows_the_tempo_map():
    tempo = TempoMap(480, [TempoChange(0, 500_000), TempoChange(480, 250_000)])  # 120 -> 240
    song = Song(tracks=[Track(notes=[Note(60, 0, 960)])], tempo_map=tempo)
    clock, log, player = sender()
    player.play(song, background=False)
    run(player, clock, 1.0, step=0.0001)
    ticks = [t for t, kind in realtime(log) if kind == "clock"]
    intervals = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) == 48
    assert intervals[:23] == [pytest.approx(0.5 / 24, abs=0.00011)] * 23
    assert intervals[24:] == [pytest.approx(0.25 / 24, abs=0.00011)] * 23


def test_starting_mid_song_sends_song_position_then_continue_from_a_sixteenth():
    song = melody_song([Note(60, i * 240, 240) for i in range(16)])
    clock, log, player = sender()
    player.play(song, 1000, background=False)  # 1000 is between 16ths (120 ticks each)
    run(player, clock, 0.1)
    msgs = [m for _, m in log.messages if m.type in ("songpos", "continue", "start")]
    assert [m.type for m in msgs] == ["songpos", "continue"]
    assert msgs[0].pos == 8  # 960 / 120
    assert player.position_tick >= 960
    player.stop()
    assert [m.type for _, m in log.messages][-1] != "clock"
    assert "stop" in [m.type for _, m in log.messages]


def test_loop_wrap_sends_stop_song_position_continue_then_the_clock_goes_on():
    song = melody_song([Note(60, 0, 480), Note(62, 1440, 480)])
    clock, log, player = sender()
    player.play(song, 480, 1920, loop=True, background=False)  # 3 quarters, 1.5 s
    run(player, clock, 3.2)
    player.stop()
    got = realtime(log)
    kinds = [k for _, k in got]
    assert kinds[:3] == ["songpos", "continue", "clock"]
    wraps = [i for i, k in enumerate(kinds) if k == "stop"]
    assert len(wraps) == 3  # two wraps and the final stop
    for i in wraps[:2]:
        assert kinds[i:i + 4] == ["stop", "songpos", "continue", "clock"]
        assert got[i][0] == got[i + 3][0]  # all at the wrap's instant
    assert [t for t, _ in got][wraps[0]] == pytest.approx(1.5, abs=0.0011)
    between = kinds[:wraps[0]].count("clock")
    assert between == 3 * CLOCKS_PER_QUARTER
    positions = [m.pos for _, m in log.messages if m.type == "songpos"]
    assert positions == [4, 4, 4]


def test_snap_to_sixteenth():
    assert snap_to_sixteenth(0, 480) == (0, 0)
    assert snap_to_sixteenth(119, 480) == (0, 0)
    assert snap_to_sixteenth(120, 480) == (120, 1)
    assert snap_to_sixteenth(10**9, 480)[1] == 16383


def test_sync_mode_is_checked():
    with pytest.raises(ContinuoError, match="Unknown sync mode"):
        Player(MessageLog()).set_sync("telepathy")


# ---- following: the estimator ------------------------------------------------------------
def feed_clocks(follower: ClockFollower, start: float, count: int, bpm: float,
                first_index: int = 0) -> float:
    """``count`` clocks sent at ``bpm`` from ``start``, arriving as JACK delivers them."""
    interval = 60 / bpm / CLOCKS_PER_QUARTER
    for k in range(count):
        follower.feed(mido.Message("clock"), jack_arrival(start + k * interval))
    return start + count * interval


def test_the_follower_predicts_the_sender_and_follows_a_tempo_jump_within_a_beat():
    f = ClockFollower()
    f.feed(mido.Message("start"), 1.0)
    t = feed_clocks(f, 1.001, 24 * 8, 120)
    assert f.tempo_bpm() == pytest.approx(120, abs=0.2)
    # the next clock is predicted where the sender sends it, not where JACK delivers it
    assert f.time_at(24 * 8) == pytest.approx(t, abs=0.0015)
    interval = 60 / 90 / 24
    shown = []
    for k in range(24):
        f.feed(mido.Message("clock"), jack_arrival(t + k * interval))
        shown.append(f.tempo_bpm())
    assert all(abs(bpm - 90) <= 1 for bpm in shown[-6:])
    assert f.position(jack_arrival(t + 23 * interval)) == pytest.approx(24 * 9 - 1, abs=0.3)


def test_clock_with_no_start_only_sets_the_tempo():
    f = ClockFollower()
    feed_clocks(f, 5.0, 48, 100)
    assert not f.running
    assert f.position(6.0) is None
    assert f.time_at(0) == math.inf
    assert f.tempo_bpm() == pytest.approx(100, abs=0.5)
    assert f.lost(100.0) is None  # nothing was running


def test_song_position_while_stopped_sets_where_continue_starts():
    events = []

    class L:
        def clock_started(self, p): events.append(("start", p))
        def clock_stopped(self): events.append(("stop",))
        def clock_located(self, p, running): events.append(("at", p, running))
        def clock_ticked(self): pass

    f = ClockFollower(L())
    f.feed(mido.Message("songpos", pos=16), 0.0)
    f.feed(mido.Message("continue"), 0.01)
    f.feed(mido.Message("continue"), 0.02)  # already running: ignored
    t = feed_clocks(f, 0.03, 12, 120)
    f.feed(mido.Message("stop"), t)
    assert f.resume_position == 16 * 6 + 12
    f.feed(mido.Message("songpos", pos=4), t + 0.1)  # while running? no: stopped
    f.feed(mido.Message("start"), t + 0.2)
    assert events == [("at", 96, False), ("start", 96), ("stop",), ("at", 24, False),
                      ("start", 0)]


def test_a_burst_of_ten_thousand_clocks_is_bounded_work_and_recovers():
    f = ClockFollower()
    f.feed(mido.Message("start"), 0.0)
    t = feed_clocks(f, 0.001, 48, 120)
    for _ in range(10_000):  # a few microseconds each: the follower keeps a window
        f.feed(mido.Message("clock"), t)
    assert 10 <= f.tempo_bpm() <= 1000
    t = feed_clocks(f, t + 0.001, 48, 120)
    assert f.tempo_bpm() == pytest.approx(120, abs=1)
    assert f.position(t) == pytest.approx(48 + 10_000 + 48, abs=1.1)


def test_a_clock_that_stops_arriving_is_lost_once_with_a_reason():
    f = ClockFollower(name="DAW")
    f.feed(mido.Message("start"), 0.0)
    t = feed_clocks(f, 0.001, 24, 120)
    assert f.lost(t + 0.1) is None
    reason = f.lost(t + 1.0)
    assert reason == "The MIDI clock from 'DAW' stopped arriving (nothing for 0.5 s)"
    assert f.lost(t + 2.0) is None and not f.running


# ---- following: the player, on a hand-moved clock ---------------------------------------
class Follower(Player):
    follow_in_background = False

    def __init__(self, output, clock):
        super().__init__(output, clock=clock)
        self.errors: list[str] = []

    def on_error(self, message: str) -> None:
        self.errors.append(message)


def follow_setup(song: Song):
    clock = Clock()
    log = MessageLog(clock=clock)
    player = Follower(log, clock)
    player.set_sync(SYNC_FOLLOW)
    player.set_follow_song(song)
    return clock, log, player


def drive(player: Player, clock: Clock, seconds: float, bpm: float = 120.0,
          send: bool = True, step: float = 0.0005) -> None:
    """Move the clock; a sender's clock arrives every 1/24 quarter (when ``send``), on
    from where the last call left it."""
    interval = 60 / bpm / CLOCKS_PER_QUARTER
    end = clock.now + seconds
    next_clock = max(getattr(clock, "next_clock", clock.now), clock.now) if send else 0.0
    while clock.now < end:
        if send and clock.now >= next_clock - 1e-9:
            player.feed_clock(mido.Message("clock"), clock.now)
            next_clock += interval
        player.pump()
        clock.now = round(clock.now + step, 9)
    if send:
        clock.next_clock = next_clock


def note_ons(log: MessageLog) -> list[tuple[float, int]]:
    return [(round(t - 100.0, 3), m.note) for t, m in log.messages
            if m.type == "note_on" and m.velocity]


def test_start_plays_on_the_incoming_clock_and_stop_silences():
    song = melody_song([Note(60 + i, i * 240, 200) for i in range(8)], bpm=60)  # its own tempo
    clock, log, player = follow_setup(song)
    player.feed_clock(mido.Message("start"), clock.now)
    assert player.is_playing()
    drive(player, clock, 0.8)  # at 120 BPM: eighths every 0.25 s
    assert [n for _, n in note_ons(log)] == [60, 61, 62, 63]
    assert [t for t, _ in note_ons(log)] == pytest.approx([0, 0.25, 0.5, 0.75], abs=0.002)
    player.feed_clock(mido.Message("stop"), clock.now)
    assert not player.is_playing() and player.sounding_notes() == []
    assert player.position_tick == pytest.approx(768, abs=20)  # where the sender stopped


def test_continue_resumes_and_a_lost_clock_stops_with_the_reason():
    song = melody_song([Note(60 + i, i * 240, 480) for i in range(16)])
    clock, log, player = follow_setup(song)
    player.feed_clock(mido.Message("songpos", pos=8), clock.now)  # tick 960
    player.feed_clock(mido.Message("continue"), clock.now)
    drive(player, clock, 0.3)
    assert note_ons(log)[0] == (0.0, 64)
    assert player.sounding_notes()
    drive(player, clock, 1.0, send=False)  # the sender vanished
    assert not player.is_playing()
    assert player.sounding_notes() == []
    assert player.errors == ["The MIDI clock stopped arriving (nothing for 0.5 s); "
                             "playback stopped."]


def test_song_position_while_playing_jumps_and_skips_nothing_it_should_play():
    song = melody_song([Note(60 + i, i * 480, 400) for i in range(16)])
    clock, log, player = follow_setup(song)
    player.feed_clock(mido.Message("start"), clock.now)
    drive(player, clock, 0.3)
    player.feed_clock(mido.Message("songpos", pos=40), clock.now)  # quarter 10
    before = len(note_ons(log))
    drive(player, clock, 0.3)
    assert player.is_playing()
    assert [n for _, n in note_ons(log)[before:]][0] == 70


def test_a_burst_skips_ahead_instead_of_playing_everything_at_once():
    song = melody_song([Note(60 + i % 12, i * 120, 100) for i in range(400)])
    clock, log, player = follow_setup(song)
    player.feed_clock(mido.Message("start"), clock.now)
    drive(player, clock, 0.2)
    before = len(note_ons(log))
    for _ in range(10_000):
        player.feed_clock(mido.Message("clock"), clock.now)
    drive(player, clock, 0.2)
    # 10,000 clocks = 417 quarters: past the song's 100 quarters, so it finishes quietly
    assert len(note_ons(log)) - before <= 2
    assert not player.is_playing() and player.sounding_notes() == []


def test_a_held_followed_playback_runs_past_the_end_until_stop():
    song = melody_song([Note(60, 0, 240)])
    clock, log, player = follow_setup(song)
    player.set_follow_hold(True)
    player.feed_clock(mido.Message("songpos", pos=16), clock.now)  # past the song's end
    player.feed_clock(mido.Message("continue"), clock.now)
    drive(player, clock, 1.0)
    assert player.is_playing() and player.position_tick == pytest.approx(1920 + 960, abs=30)
    player.feed_clock(mido.Message("stop"), clock.now)
    assert not player.is_playing() and note_ons(log) == []


def test_an_answer_joins_the_followed_playback_at_the_bar_it_is_given():
    song = melody_song([Note(60 + i, i * 480, 400) for i in range(16)])
    clock, log, player = follow_setup(song)
    assert not player.play_in_following(melody_song([Note(80, 0, 240)]), 960)  # not running
    player.feed_clock(mido.Message("start"), clock.now)
    drive(player, clock, 0.3)
    assert player.is_following()
    answer = melody_song([Note(84, 0, 240), Note(86, 240, 240)])
    assert player.play_in_following(answer, 960)  # the next bar after where it stands
    drive(player, clock, 1.0)
    assert note_ons(log) == [(0.0, 60), (0.5, 61), (pytest.approx(1.0, abs=0.002), 62),
                             (pytest.approx(1.0, abs=0.002), 84),
                             (pytest.approx(1.25, abs=0.002), 86)]


def test_call_and_response_reads_a_phrase_on_the_followed_clock():
    from engine.live.recorder import CallAndResponse

    followed = {"tick_at": lambda t: t * 1920.0}  # a clock at 240 BPM: 1920 ticks a second
    cr = CallAndResponse(TempoMap(480), grid=0, gap_s=0.2,
                         timeline=lambda: followed["tick_at"])
    for i, t in enumerate((10.0, 10.25)):
        cr.feed(mido.Message("note_on", note=60 + i, velocity=90), t)
        cr.feed(mido.Message("note_off", note=60 + i), t + 0.125)
    phrase = cr.poll(11.0)
    assert [(n.start_tick, n.duration_ticks) for n in phrase.notes()] == [(0, 240), (480, 240)]
    cr.place_answer([])
    followed["tick_at"] = None  # the other program stopped: the song's own 120 BPM
    cr.feed(mido.Message("note_on", note=70, velocity=90), 20.0)
    cr.feed(mido.Message("note_off", note=70), 20.25)
    assert [(n.start_tick, n.duration_ticks) for n in cr.poll(21.0).notes()] == [(0, 240)]
