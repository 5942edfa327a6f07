"""The built-in synth: General MIDI through FluidSynth and a soundfont.

Used when no MIDI port is chosen, so that a fresh install makes sound without any
MIDI setup, and for "Export audio" (offline rendering to WAV).

* FluidSynth comes from the system (Debian's ``libfluidsynth3``), driven through
  ``pyfluidsynth``'s ctypes bindings.  We call the low-level constructors
  ourselves instead of ``Synth.start()``, because ``start()`` also opens a MIDI
  driver (an ALSA sequencer client) that we do not want.
* The soundfont is the first found of: ``$CONTINUO_SOUNDFONT``, ``assets/soundfont/``
  in the repository, then the usual system folders (Debian's ``timgm6mb-soundfont``).
* Live audio is best effort: on a machine with no sound card every audio driver
  fails, and the synth goes on silently with :attr:`SynthOutput.status` saying
  why.  Offline rendering needs no audio device and always works: when FluidSynth
  or a soundfont is missing it falls back to a small additive synth in numpy, so
  "Export audio" never fails for want of a library.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import mido
import numpy as np

from engine import resources
from engine.errors import ContinuoError
from engine.formats import write_file
from engine.live.ports import Output
from engine.song import DRUM_CHANNEL, Song

BUILTIN_SYNTH_NAME = "Built-in synth"
DEFAULT_SAMPLE_RATE = 44_100
REPO_SOUNDFONT_DIR = resources.soundfont_dir()  # the shipped one (a wheel's or the checkout's)
SYSTEM_SOUNDFONT_DIRS = (
    Path("/usr/share/sounds/sf2"),
    Path("/usr/share/soundfonts"),
    Path("/usr/local/share/soundfonts"),
    Path("/opt/homebrew/share/soundfonts"),
)
PREFERRED_SOUNDFONTS = ("TimGM6mb.sf2", "default-GM.sf2", "FluidR3_GM.sf2", "GeneralUser GS.sf2")
# Drivers tried in order for live audio; the first that opens wins.  JACK is left out
# unless asked for ($CONTINUO_AUDIO_DRIVER=jack): a JACK audio client that renders a
# soundfont in every period causes xruns on a busy machine, and an xrun loses the MIDI
# of that period for every client, i.e. the real ports we play through.
def platform_audio_drivers(platform: str = sys.platform) -> tuple[str, ...]:
    """The FluidSynth audio drivers worth trying on ``platform`` (``sys.platform``)."""
    if platform.startswith("linux"):
        return ("pulseaudio", "pipewire", "alsa")
    if platform == "darwin":
        return ("coreaudio",)
    if platform.startswith(("win", "cygwin")):
        return ("wasapi", "dsound")
    return ("pulseaudio", "oss")  # the BSDs


AUDIO_DRIVERS = tuple(dict.fromkeys(
    d for d in (os.environ.get("CONTINUO_AUDIO_DRIVER", ""), *platform_audio_drivers()) if d))


def silence_advice(platform: str = sys.platform) -> str:
    """What to do when the built-in synth cannot reach a sound card, on ``platform``."""
    if platform.startswith("linux"):
        return ("Start PipeWire or PulseAudio, or start JACK and pick a synth's port under "
                "Output, or use File > Export Audio.")
    if platform == "darwin":
        return ("Check the sound output in System Settings, pick a MIDI port under Output, "
                "or use File > Export Audio.")
    if platform.startswith(("win", "cygwin")):
        return ("Check that a sound device is enabled in the Sound settings, pick a MIDI port "
                "under Output, or use File > Export Audio.")
    return "Start a sound server, pick a MIDI port under Output, or use File > Export Audio."


def silence_todo(platform: str = sys.platform) -> str:
    """:func:`silence_advice` in a dozen words, for a toolbar."""
    if platform.startswith("linux"):
        return "Start PipeWire or JACK, pick an output, or use Export Audio."
    if platform == "darwin":
        return "Check the sound output, pick an output, or use Export Audio."
    if platform.startswith(("win", "cygwin")):
        return "Check the sound device, pick an output, or use Export Audio."
    return "Start a sound server, pick an output, or use Export Audio."


class SynthError(ContinuoError):
    """The built-in synth cannot do what was asked (no soundfont, unreadable soundfont)."""


def find_soundfont() -> Path | None:
    """The soundfont Continuo uses, or None when there is none on this machine."""
    env = os.environ.get("CONTINUO_SOUNDFONT")
    if env:
        return Path(env) if Path(env).is_file() else None
    for folder in (REPO_SOUNDFONT_DIR, *SYSTEM_SOUNDFONT_DIRS):
        if not folder.is_dir():
            continue
        for name in PREFERRED_SOUNDFONTS:
            if (folder / name).is_file():
                return folder / name
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".sf2", ".sf3"))
        if found:
            return found[0]
    return None


_fluidsynth_module = None
_fluidsynth_error: str | None = None


def _fluidsynth():
    """Import pyfluidsynth once; None (with the reason kept) when it cannot load."""
    global _fluidsynth_module, _fluidsynth_error
    if _fluidsynth_module is None and _fluidsynth_error is None:
        try:
            # pyfluidsynth prints where it found the library when the environment names
            # CI; that line must not reach our standard output (the CLI writes music there)
            with contextlib.redirect_stdout(io.StringIO()):
                import fluidsynth  # noqa: PLC0415 - needs the system library, so import late

            _fluidsynth_module = fluidsynth
        except (ImportError, OSError) as exc:
            _fluidsynth_error = f"FluidSynth is not available ({exc})"
    return _fluidsynth_module


def fluidsynth_available() -> bool:
    return _fluidsynth() is not None


class FluidSynth:
    """One FluidSynth instance with a soundfont loaded on all 16 channels."""

    def __init__(self, soundfont: Path | None = None, sample_rate: int = DEFAULT_SAMPLE_RATE,
                 gain: float = 1.0) -> None:
        fs = _fluidsynth()
        if fs is None:
            raise SynthError(_fluidsynth_error or "FluidSynth is not available.")
        soundfont = soundfont or find_soundfont()
        if soundfont is None:
            raise SynthError("No General MIDI soundfont was found (install timgm6mb-soundfont).")
        self.fs = fs
        self.sample_rate = sample_rate
        self.soundfont = Path(soundfont)
        self.synth = fs.Synth(gain=gain, samplerate=sample_rate)
        self.synth.setting("synth.reverb.active", 0)
        self.synth.setting("synth.chorus.active", 0)
        self.sfid = self.synth.sfload(str(self.soundfont))
        if self.sfid == -1:
            self.synth.delete()
            raise SynthError(f"{self.soundfont}: not a soundfont FluidSynth can read.")
        for channel in range(16):
            self.synth.program_select(channel, self.sfid, 128 if channel == DRUM_CHANNEL else 0, 0)
        self._driver = None
        self._lock = threading.Lock()

    def handle(self, msg: mido.Message) -> None:
        """Apply one MIDI message to the synth."""
        s = self.synth
        with self._lock:
            if msg.type == "note_on":
                if msg.velocity:
                    s.noteon(msg.channel, msg.note, msg.velocity)
                else:
                    s.noteoff(msg.channel, msg.note)
            elif msg.type == "note_off":
                s.noteoff(msg.channel, msg.note)
            elif msg.type == "program_change":
                bank = 128 if msg.channel == DRUM_CHANNEL else 0
                s.program_select(msg.channel, self.sfid, bank, msg.program)
            elif msg.type == "control_change":
                s.cc(msg.channel, msg.control, msg.value)
            elif msg.type == "pitchwheel":
                s.pitch_bend(msg.channel, msg.pitch)

    def samples(self, frames: int) -> np.ndarray:
        """The next ``frames`` stereo frames as float32 in [-1, 1], shape (frames, 2)."""
        with self._lock:
            data = self.synth.get_samples(frames)
        return (np.asarray(data, dtype=np.float32) / 32768.0).reshape(-1, 2)

    def start_audio(self, drivers: Iterable[str] = AUDIO_DRIVERS) -> str:
        """Open the first audio driver that works; returns its name, raises SynthError if none."""
        tried = []
        for driver in drivers:
            self.synth.setting("audio.driver", driver)
            if driver == "jack":
                self.synth.setting("audio.jack.autoconnect", 1)
            driver_ptr = self.fs.new_fluid_audio_driver(self.synth.settings, self.synth.synth)
            if driver_ptr:
                self._driver = driver_ptr
                return driver
            tried.append(driver)
        raise SynthError("No audio device could be opened (tried " + ", ".join(tried) + ").")

    def close(self) -> None:
        if self._driver:
            self.fs.delete_fluid_audio_driver(self._driver)
            self._driver = None
        self.synth.delete()


class SynthOutput(Output):
    """The built-in synth as an output the player can play into.

    Construction never fails: when there is no FluidSynth, no soundfont or no
    audio device, the output accepts messages silently and :attr:`status` says so
    in a sentence the GUI can show once.
    """

    def __init__(self, soundfont: Path | None = None, live: bool = True,
                 drivers: Iterable[str] | None = None) -> None:
        """``drivers``: the audio drivers to try (default :data:`AUDIO_DRIVERS`)."""
        super().__init__()
        drivers = AUDIO_DRIVERS if drivers is None else drivers
        self.name = BUILTIN_SYNTH_NAME
        self.status = ""  # a sentence when silent: why, and what to do
        self.silence = ""  # when silent, the reason in a few words ("no audio device")
        self.todo = ""  # when silent, what to do in a dozen words
        self.driver: str | None = None
        self._synth: FluidSynth | None = None
        try:
            self._synth = FluidSynth(soundfont)
        except SynthError as exc:
            if fluidsynth_available():
                self.silence = "no soundfont"
                self.todo = "Install a soundfont, pick an output, or use Export Audio."
                advice = ("Install a General MIDI soundfont (timgm6mb-soundfont), pick a MIDI "
                          "port under Output, or use File > Export Audio.")
            else:
                self.silence = "FluidSynth is missing"
                self.todo = "Install FluidSynth, pick an output, or use Export Audio."
                advice = ("Install FluidSynth (libfluidsynth3), pick a MIDI port under Output, "
                          "or use File > Export Audio.")
            self.status = f"The built-in synth is silent: {exc} {advice}"
            return
        if live:
            try:
                self.driver = self._synth.start_audio(drivers)
            except SynthError as exc:
                self.silence = "no audio device"
                self.todo = silence_todo()
                self.status = f"The built-in synth is silent: {exc} {silence_advice()}"

    @property
    def audible(self) -> bool:
        return self.driver is not None

    def _send(self, msg: mido.Message) -> None:
        if self._synth is not None:
            self._synth.handle(msg)

    def _close(self) -> None:
        if self._synth is not None:
            self._synth.close()
            self._synth = None


# ---------------------------------------------------------------------------------------
# offline rendering
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RenderInfo:
    path: Path | None
    seconds: float
    sample_rate: int
    engine: str  # "fluidsynth:<soundfont name>" or "additive"


def _timed_messages(song: Song) -> list[tuple[float, mido.Message]]:
    from engine.live.player import song_to_events  # noqa: PLC0415 - player imports ports, not us

    return [(e.time_s, e.message) for e in song_to_events(song, 0, None, metronome=False)]


def render_song(song: Song, sample_rate: int = DEFAULT_SAMPLE_RATE, tail_s: float = 1.0,
                soundfont: Path | None = None, engine: str = "auto") -> tuple[np.ndarray, str]:
    """The song as float32 stereo samples, shape (frames, 2), and the engine used.

    ``engine`` is "fluidsynth", "additive" or "auto" (FluidSynth with a soundfont
    when there is one, else additive).
    """
    events = _timed_messages(song)
    if engine in ("auto", "fluidsynth"):
        try:
            synth = FluidSynth(soundfont, sample_rate=sample_rate)
        except SynthError:
            if engine == "fluidsynth":
                raise
        else:
            try:
                return _render_fluid(synth, events, sample_rate, tail_s), \
                    f"fluidsynth:{synth.soundfont.name}"
            finally:
                synth.close()
    return _render_additive(events, sample_rate, tail_s), "additive"


def _render_fluid(synth: FluidSynth, events: list[tuple[float, mido.Message]],
                  sample_rate: int, tail_s: float) -> np.ndarray:
    chunks: list[np.ndarray] = []
    frame = 0
    for t, msg in events:
        target = int(round(t * sample_rate))
        if target > frame:
            chunks.append(synth.samples(target - frame))
            frame = target
        synth.handle(msg)
    chunks.append(synth.samples(int(tail_s * sample_rate)))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2), np.float32)


def _render_additive(events: list[tuple[float, mido.Message]], sample_rate: int,
                     tail_s: float) -> np.ndarray:
    """A plain organ-like tone per note: needs nothing but numpy."""
    end_s = max((t for t, _ in events), default=0.0) + tail_s
    out = np.zeros(int(end_s * sample_rate) + 1, dtype=np.float32)
    open_notes: dict[tuple[int, int], tuple[float, int]] = {}
    notes: list[tuple[float, float, int, int]] = []
    for t, msg in events:
        if msg.type == "note_on" and msg.velocity > 0 and msg.channel != DRUM_CHANNEL:
            open_notes[(msg.channel, msg.note)] = (t, msg.velocity)
        elif msg.type in ("note_off", "note_on") and (msg.channel, msg.note) in open_notes:
            start, vel = open_notes.pop((msg.channel, msg.note))
            notes.append((start, t, msg.note, vel))
    release = 0.08
    for start, stop, pitch, vel in notes:
        freq = 440.0 * 2 ** ((pitch - 69) / 12)
        n = int((stop - start + release) * sample_rate)
        t = np.arange(n, dtype=np.float32) / sample_rate
        tone = (np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)
                + 0.1 * np.sin(6 * np.pi * freq * t))
        env = np.minimum(1.0, t / 0.01)
        held = stop - start
        env = np.where(t > held, np.maximum(0.0, 1 - (t - held) / release), env)
        i0 = int(start * sample_rate)
        seg = out[i0:i0 + n]
        seg += (0.2 * vel / 127 * env * tone)[:len(seg)].astype(np.float32)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 0.99:
        out *= 0.99 / peak
    return np.stack([out, out], axis=1)


def samples_to_wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM stereo WAV bytes."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(pcm.shape[1] if pcm.ndim == 2 else 1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buffer.getvalue()


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> None:
    """Write rendered samples as a WAV file, atomically; a ContinuoError naming the
    file when it cannot be written."""
    write_file(path, samples_to_wav_bytes(samples, sample_rate))


def render_song_to_wav(song: Song, path: str | os.PathLike, sample_rate: int = DEFAULT_SAMPLE_RATE,
                       tail_s: float = 1.0, soundfont: Path | None = None,
                       engine: str = "auto") -> RenderInfo:
    """Export audio: render ``song`` and write a WAV file atomically."""
    samples, used = render_song(song, sample_rate, tail_s, soundfont, engine)
    write_wav(path, samples, sample_rate)
    return RenderInfo(Path(path), len(samples) / sample_rate, sample_rate, used)
