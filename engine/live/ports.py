"""Real MIDI ports: list, open by name, a virtual "Continuo" output, and inputs.

Everything goes through mido's rtmidi backend *object*
(``mido.Backend("mido.backends.rtmidi", api=...)``) rather than
``mido.set_backend()``, so two parts of the app (or a test and the app) can use
different MIDI APIs without fighting over a global.

Outputs follow mido's own pattern: the public :meth:`Output.send` checks the
message and the port state and takes the lock; subclasses only override
:meth:`Output._send`.  The player, the synth and the tests all talk to this one
small interface, which is what lets the built-in synth stand in for a port.

Hot-unplug: rtmidi does not report a destination that goes away (sending into
a vanished JACK or ALSA connection silently drops the bytes), so
:meth:`PortOutput.check` looks the port up in the API's current port list and
raises :class:`PortError`; the player calls it a few times a second.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable, Iterable

import mido
import rtmidi

from engine.errors import PortError

VIRTUAL_OUTPUT_NAME = "Continuo"
CLIENT_NAME = "Continuo"

# Friendly names (what a user or a setting says) -> mido's API names.
API_NAMES: dict[str, str] = {
    "alsa": "LINUX_ALSA",
    "jack": "UNIX_JACK",
    "coremidi": "MACOSX_CORE",
    "winmm": "WINDOWS_MM",
}
_RTMIDI_API_IDS: dict[str, int] = {
    "LINUX_ALSA": rtmidi.API_LINUX_ALSA,
    "UNIX_JACK": rtmidi.API_UNIX_JACK,
    "MACOSX_CORE": rtmidi.API_MACOSX_CORE,
    "WINDOWS_MM": rtmidi.API_WINDOWS_MM,
}

# Never let rtmidi's JACK client spawn a JACK server behind the user's back.
os.environ.setdefault("JACK_NO_START_SERVER", "1")

ALL_NOTES_OFF = 123
ALL_SOUND_OFF = 120
RESET_CONTROLLERS = 121


def compiled_apis() -> list[str]:
    """Friendly names of the MIDI APIs this python-rtmidi build knows."""
    by_id = {v: k for k, v in API_NAMES.items()}
    names = []
    for api_id in rtmidi.get_compiled_api():
        mido_name = next((n for n, i in _RTMIDI_API_IDS.items() if i == api_id), None)
        if mido_name is not None:
            names.append(by_id[mido_name])
    return names


def api_works(api: str) -> bool:
    """True when ``api`` is compiled in and its system (ALSA seq, JACK server) is up."""
    mido_name = _mido_api(api)
    if mido_name == "LINUX_ALSA" and sys.platform.startswith("linux") \
            and not os.path.exists("/dev/snd/seq"):
        return False  # no sequencer device: skip the probe and ALSA's complaints on stderr
    try:
        probe = rtmidi.MidiOut(rtapi=_RTMIDI_API_IDS[mido_name])
    except Exception:  # rtmidi.SystemError and friends: no server, no /dev/snd/seq
        return False
    probe.delete()
    return True


def working_apis() -> list[str]:
    """The compiled-in APIs whose system is running now, best first."""
    order = ["alsa", "jack", "coremidi", "winmm"]
    return [a for a in order if a in compiled_apis() and api_works(a)]


def default_api() -> str | None:
    """``$CONTINUO_MIDI_API`` if set, else the first working API (ALSA before JACK)."""
    wanted = os.environ.get("CONTINUO_MIDI_API")
    if wanted:
        return wanted.lower()
    apis = working_apis()
    return apis[0] if apis else None


def _mido_api(api: str) -> str:
    key = api.lower()
    if key not in API_NAMES:
        raise PortError(f"Unknown MIDI system {api!r}; choose one of {', '.join(API_NAMES)}.")
    return API_NAMES[key]


def check_message(msg: mido.Message) -> None:
    """Reject anything that is not a channel or system message that rtmidi can send."""
    if isinstance(msg, mido.MetaMessage):
        raise ValueError(f"a meta message ({msg.type}) cannot be sent to a MIDI port")
    if not isinstance(msg, mido.Message):
        raise TypeError(f"expected a mido.Message, got {type(msg).__name__}")


class Output:
    """Anything Continuo plays into: a real port, the built-in synth, a message log.

    ``send`` is the public entry (checks, then the lock, then ``_send``), so a
    subclass never has to think about threads: the player thread, a preview click
    and MIDI thru can all send at once.
    """

    name: str = "output"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.closed = False

    def send(self, msg: mido.Message) -> None:
        """Send one message now."""
        check_message(msg)
        with self._lock:
            if self.closed:
                raise PortError(f"The MIDI output '{self.name}' is closed.")
            self._send(msg)

    def _send(self, msg: mido.Message) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """Raise :class:`PortError` when the output can no longer deliver messages."""

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._close()

    def _close(self) -> None:
        pass

    def __enter__(self) -> "Output":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self.name!r} {state}>"


class MessageLog(Output):
    """An output that keeps what it receives, with the time it received it.

    Used to render a song offline and to check a schedule without a port; it is
    a real output, not a stand-in: the player treats it like any other.
    """

    def __init__(self, name: str = "log", clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.name = name
        self.clock = clock
        self.messages: list[tuple[float, mido.Message]] = []

    def _send(self, msg: mido.Message) -> None:
        self.messages.append((self.clock() if self.clock else 0.0, msg))


class PortOutput(Output):
    """A real rtmidi output port (a synth, a DAW, another program), opened by name."""

    def __init__(self, port: mido.ports.BaseOutput, api: str, virtual: bool) -> None:
        super().__init__()
        self._port = port
        self.name = port.name
        self.api = api
        self.virtual = virtual
        self._lister: rtmidi.MidiOut | None = None
        if not virtual:
            try:
                self._lister = rtmidi.MidiOut(rtapi=_RTMIDI_API_IDS[_mido_api(api)])
            except Exception:
                self._lister = None  # cannot watch; sending still works

    def _send(self, msg: mido.Message) -> None:
        self._port.send(msg)

    def check(self) -> None:
        if self.closed:
            raise PortError(f"The MIDI output '{self.name}' is closed.")
        if self._lister is None:
            return
        if self.name not in self._lister.get_ports():
            raise PortError(f"The MIDI port '{self.name}' went away")

    def _close(self) -> None:
        try:
            self._port.close()
        finally:
            if self._lister is not None:
                self._lister.delete()
                self._lister = None


# rtmidi keeps what arrives in a queue until our poller reads it; python-rtmidi's default
# holds 1,024 messages, and a poller starved by a busy machine for a second or two of a
# dense passage lost the rest ("MidiInJack: message queue limit reached"): a CI run got
# 1,026 of 2,000.  At 2 kB a message slot this is about 130 MB at most, only when full.
INPUT_QUEUE_LIMIT = 65536


class _RtInput:
    """An rtmidi input opened with :data:`INPUT_QUEUE_LIMIT`, as mido would open it.

    mido's rtmidi backend makes its ``MidiIn`` with python-rtmidi's default queue and
    takes no option for it, so inputs are opened here the way mido does (a virtual port
    by name, or a listed port by its index; system exclusive, not timing or active
    sensing, ignored) and read by :class:`PortInput`'s poller."""

    def __init__(self, api: str, name: str, virtual: bool, client_name: str) -> None:
        self.closed = True
        self._rt = rtmidi.MidiIn(rtapi=_RTMIDI_API_IDS[_mido_api(api)],
                                 name=client_name if virtual else None,
                                 queue_size_limit=INPUT_QUEUE_LIMIT)
        try:
            if virtual:
                self._rt.open_virtual_port(name)
            else:
                names = list(self._rt.get_ports())
                if name not in names:
                    raise OSError(f"no input called '{name}'")
                self._rt.open_port(names.index(name))
            self._rt.ignore_types(False, False, True)
        except BaseException:
            self._rt.delete()
            raise
        self.name = name
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            _close_polled_input(self, self._rt)


def _close_polled_input(port: mido.ports.BaseInput, rt) -> None:
    """Close an rtmidi input whose callback we cancelled, without mido's ``close()``.

    mido's ``Input.close()`` puts its own Python callback back on the rtmidi object
    just before closing the port.  A message arriving at that moment makes JACK's
    process thread wait for the GIL, which ``close_port`` holds while it waits for
    that same thread: a deadlock that froze a CI run (reproduced by closing inputs
    while another client sends to them; tests/engine/test_ports.py has the test).
    So the port is closed here with no callback installed, and mido's object is only
    marked closed.
    """
    rt.cancel_callback()
    rt.close_port()
    rt.delete()
    port.closed = True


class PortInput:
    """A real rtmidi input port; each message goes to ``callback(msg, seconds)``.

    Times are on ``clock`` (the player's clock), so a recorder can put notes on the
    song's timeline.  rtmidi's own callback would run Python, and so wait for the
    GIL, inside JACK's process thread: on a busy machine that makes the client miss
    its period.  So, where mido's port exposes its rtmidi object (``_rt``, true of
    mido 1.3's rtmidi backend), we cancel that callback and poll rtmidi's queue from
    our own thread instead; each message's time is then rebuilt from rtmidi's delta
    times (taken in the MIDI system's thread, unaffected by the GIL):
    ``t = min(previous t + delta, now)``, so one late wake-up never shifts the
    notes that follow it.  Otherwise mido's callback is used and the clock is read
    when it runs.
    """

    poll_interval_s = 0.002
    # SCHED_FIFO priority the poller asks for, from its next wake-up (0: the usual
    # scheduling); the live accompanist raises it while it answers the keys.  Real-time
    # by default: a poller scheduled as usual can be put off the CPU by other programs
    # while it holds the GIL, and the player's real-time thread then waits for it (the
    # tail of following a DAW's clock on a busy machine)
    realtime_priority = 8

    def __init__(self, port: mido.ports.BaseInput, api: str, virtual: bool,
                 callback: Callable[[mido.Message, float], None] | None,
                 clock: Callable[[], float]) -> None:
        self._port = port
        self.name = port.name
        self.api = api
        self.virtual = virtual
        self.clock = clock
        self._callback = callback
        self.closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # the poller and close() agree under this lock on who closes the rtmidi port:
        # closing it while the poller reads it would crash the process
        self._handover = threading.Lock()
        self._poller_done = False
        self._poller_closes = False
        self._rt = None
        rt = getattr(port, "_rt", None)
        if rt is not None and hasattr(rt, "get_message") and hasattr(rt, "cancel_callback"):
            rt.cancel_callback()
            self._rt = rt
            self._thread = threading.Thread(target=self._poll, name=f"midi-in {self.name}",
                                            daemon=True)
            self._thread.start()
        else:
            port.callback = self._on_message

    def _poll(self) -> None:
        try:
            self._read_until_stopped()
        finally:
            with self._handover:
                self._poller_done = True
                closes = self._poller_closes
            if closes:
                _close_polled_input(self._port, self._rt)

    def _read_until_stopped(self) -> None:
        last_t: float | None = None
        rt = self._rt
        priority = 0
        while not self._stop.is_set():
            if self.realtime_priority != priority:
                priority = self.realtime_priority
                try:
                    os.sched_setscheduler(0, os.SCHED_FIFO if priority else os.SCHED_OTHER,
                                          os.sched_param(priority))
                except (AttributeError, OSError, ValueError):
                    pass  # not allowed here: the poller runs as before
            while not self._stop.is_set():
                item = rt.get_message()
                if item is None:
                    break
                data, delta = item
                now = self.clock()
                t = now if last_t is None else min(last_t + delta, now)
                last_t = t
                try:
                    msg = mido.Message.from_bytes(data)
                except ValueError:
                    continue  # a malformed message from a device: skip it
                func = self._callback
                if func is not None:
                    func(msg, t)
            self._stop.wait(self.poll_interval_s)

    @property
    def callback(self) -> Callable[[mido.Message, float], None] | None:
        return self._callback

    @callback.setter
    def callback(self, func: Callable[[mido.Message, float], None] | None) -> None:
        self._callback = func

    def _on_message(self, msg: mido.Message) -> None:
        now = self.clock()
        func = self._callback
        if func is not None:
            func(msg, now)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._callback = None
            self._stop.set()
            if self._rt is None:
                self._port.close()
                return
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=5.0)
            with self._handover:
                # still reading (a slow callback, or close() called from one): the
                # poller closes the port once it stops
                self._poller_closes = not self._poller_done
                closes_now = self._poller_done
            if closes_now:
                _close_polled_input(self._port, self._rt)

    def __enter__(self) -> "PortInput":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PortInput {self.name!r} {'closed' if self.closed else 'open'}>"


class MidiSystem:
    """One MIDI API (ALSA, JACK, ...) seen through mido's rtmidi backend object.

    ``MidiSystem()`` picks :func:`default_api`; ``MidiSystem("jack")`` insists.
    Raises :class:`PortError` when no MIDI system is running at all.
    """

    def __init__(self, api: str | None = None) -> None:
        api = api or default_api()
        if api is None:
            raise PortError("No MIDI system is running (neither ALSA nor JACK was found).")
        mido_api = _mido_api(api)
        if api.lower() not in compiled_apis():
            raise PortError(f"This python-rtmidi was built without {api} support.")
        if not api_works(api):
            raise PortError(f"The {api.upper()} MIDI system is not running.")
        self.api = api.lower()
        self.backend = mido.Backend("mido.backends.rtmidi", api=mido_api, load=True)
        # one rtmidi object per direction, kept, so listing the ports (which the GUI
        # does every few seconds to notice ports coming and going) opens no new client
        self._listers: dict[str, rtmidi.MidiIn | rtmidi.MidiOut] = {}
        self._listers_lock = threading.Lock()

    # ---- listing ---------------------------------------------------------------
    def output_names(self) -> list[str]:
        """Ports we can play into, as the MIDI system names them."""
        return self._names("output")

    def input_names(self) -> list[str]:
        """Ports we can record from."""
        return self._names("input")

    def _names(self, kind: str) -> list[str]:
        # the names mido's rtmidi backend lists (and opens by) are rtmidi's get_ports()
        try:
            with self._listers_lock:
                lister = self._listers.get(kind)
                if lister is None:
                    cls = rtmidi.MidiOut if kind == "output" else rtmidi.MidiIn
                    lister = cls(rtapi=_RTMIDI_API_IDS[_mido_api(self.api)])
                    self._listers[kind] = lister
                return list(lister.get_ports())
        except Exception as exc:
            raise PortError(f"Could not list the MIDI {kind}s: {exc}") from exc

    def close(self) -> None:
        """Let go of the objects that list the ports (open ports are closed on their own)."""
        with self._listers_lock:
            for lister in self._listers.values():
                lister.delete()
            self._listers.clear()

    # ---- opening ---------------------------------------------------------------
    def _open(self, kind: str, name: str, virtual: bool = False,
              client_name: str = CLIENT_NAME):
        """mido's ``kind`` ("output" or "input") port ``name``; failures as :class:`PortError`.

        A listed port must be listed now; a virtual one is made under ``client_name``.
        """
        opener = getattr(self.backend, f"open_{kind}")
        if kind == "input":
            opener = self._open_rtmidi_input
        if virtual:
            try:
                return opener(name, virtual=True, client_name=client_name)
            except (OSError, RuntimeError, NotImplementedError, rtmidi.RtMidiError) as exc:
                raise PortError(
                    f"This MIDI system cannot make a virtual {kind} '{name}': {exc}") from exc
        if name not in self._names(kind):
            raise PortError(f"There is no MIDI {kind} called '{name}'.")
        try:
            return opener(name)
        except (OSError, RuntimeError, ValueError, rtmidi.RtMidiError) as exc:
            raise PortError(f"The MIDI {kind} '{name}' could not be opened: {exc}") from exc

    def _open_rtmidi_input(self, name: str, virtual: bool = False,
                           client_name: str = CLIENT_NAME) -> _RtInput:
        return _RtInput(self.api, name, virtual, client_name)

    def open_output(self, name: str) -> PortOutput:
        """Open the output called ``name`` (exactly as listed)."""
        return PortOutput(self._open("output", name), self.api, virtual=False)

    def open_virtual_output(self, name: str = VIRTUAL_OUTPUT_NAME,
                            client_name: str = CLIENT_NAME) -> PortOutput:
        """A port other programs (a DAW) can connect to and record what we play."""
        port = self._open("output", name, virtual=True, client_name=client_name)
        return PortOutput(port, self.api, virtual=True)

    def open_input(self, name: str,
                   callback: Callable[[mido.Message, float], None] | None = None,
                   clock: Callable[[], float] | None = None) -> PortInput:
        """Open the input called ``name``; messages go to ``callback(msg, seconds)``."""
        return PortInput(self._open("input", name), self.api, False, callback,
                         clock or time.monotonic)

    def open_virtual_input(self, name: str, client_name: str = CLIENT_NAME,
                           callback: Callable[[mido.Message, float], None] | None = None,
                           clock: Callable[[], float] | None = None) -> PortInput:
        """An input port others can play into (a keyboard app, or a test's sender)."""
        port = self._open("input", name, virtual=True, client_name=client_name)
        return PortInput(port, self.api, True, callback, clock or time.monotonic)


def all_off_messages(channels: Iterable[int], sounding: Iterable[tuple[int, int]] = (),
                     hard: bool = False) -> list[mido.Message]:
    """Note-offs for ``sounding`` (channel, pitch) pairs, then All Notes Off per channel.

    A pair listed twice (two overlapping note-ons of one key) gets two note-offs, so
    a receiver that counts note-ons sees each one matched.

    ``hard`` (Panic) adds All Sound Off and Reset All Controllers, for synths that
    ignore note-offs while the sustain pedal is down.
    """
    msgs = [mido.Message("note_off", channel=c, note=p, velocity=0) for c, p in sorted(sounding)]
    for channel in sorted(set(channels)):
        msgs.append(mido.Message("control_change", channel=channel, control=ALL_NOTES_OFF, value=0))
        if hard:
            msgs.append(mido.Message("control_change", channel=channel, control=ALL_SOUND_OFF,
                                     value=0))
            msgs.append(mido.Message("control_change", channel=channel, control=RESET_CONTROLLERS,
                                     value=0))
    return msgs


def midi_system_may_run() -> bool:
    """A cheap guess whether probing for a MIDI system could succeed now.

    On Linux, True when the ALSA sequencer device exists or a JACK (or PipeWire)
    server has left its files; elsewhere the system's MIDI is always there.  Used to
    look again for a MIDI system started after Continuo without a JACK client trying
    (and complaining on stderr) every few seconds.
    """
    if not sys.platform.startswith("linux"):
        return True
    if os.path.exists("/dev/snd/seq"):
        return True
    if any(name.startswith("jack") for name in _listdir("/dev/shm")):
        return True
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    return bool(runtime) and os.path.exists(os.path.join(runtime, "pipewire-0"))


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def platform_has_virtual_ports() -> bool:
    """Windows' MME cannot make virtual ports; ALSA, JACK and CoreMIDI can."""
    return not sys.platform.startswith("win")
