"""The built-in synth: real FluidSynth and the shipped soundfont, rendered offline."""

from __future__ import annotations

import wave
from pathlib import Path

import mido
import numpy as np
import pytest

from engine.formats import midi_file_to_song
from engine.live.ports import Output
from engine.song import Note, Song, melody_song
from engine.live.synth import (BUILTIN_SYNTH_NAME, REPO_SOUNDFONT_DIR, SynthError, SynthOutput,
                          find_soundfont, fluidsynth_available, render_song,
                          render_song_to_wav)

SEED = Path(__file__).resolve().parents[2] / "assets" / "default_seed.mid"
needs_fluidsynth = pytest.mark.skipif(not fluidsynth_available(),
                                      reason="libfluidsynth is not installed "
                                             "(scripts/system-deps.sh installs libfluidsynth3)")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        return data.astype(np.float32) / 32768.0, w.getframerate()


def semitones_off_per_note(song: Song, samples: np.ndarray, sr: int) -> list[float]:
    """For each note, how far the strongest frequency in its first 250 ms is from its
    fundamental, in semitones."""
    mono = samples.mean(axis=1)
    tempo = song.tempo_map
    off = []
    for n in sorted(song.notes(), key=Note.sort_key):
        a = tempo.tick_to_seconds(n.start_tick) + 0.02
        b = min(tempo.tick_to_seconds(n.end_tick), a + 0.25)
        seg = mono[int(a * sr):int(b * sr)]
        seg = seg * np.hanning(len(seg))
        spectrum = np.abs(np.fft.rfft(seg, 1 << 15))
        freqs = np.fft.rfftfreq(1 << 15, 1 / sr)
        peak = freqs[np.argmax(spectrum * (freqs > 40))]
        f0 = 440.0 * 2 ** ((n.pitch - 69) / 12)
        off.append(float(12 * np.log2(peak / f0)))
    return off


def test_the_repository_ships_a_soundfont_with_its_licence():
    fonts = list(REPO_SOUNDFONT_DIR.glob("*.sf2"))
    assert fonts, "assets/soundfont has no soundfont"
    assert (REPO_SOUNDFONT_DIR / "README.md").read_text().count("Licence") >= 1
    assert (REPO_SOUNDFONT_DIR / "LICENSE-GPL-2.txt").is_file()
    assert find_soundfont() is not None


@needs_fluidsynth
def test_the_default_seed_renders_to_a_wav_whose_spectrum_follows_the_notes(tmp_path):
    song = midi_file_to_song(SEED)
    path = tmp_path / "seed.wav"
    info = render_song_to_wav(song, path)
    assert info.engine.startswith("fluidsynth:")
    samples, sr = read_wav(path)
    assert sr == 44_100
    assert len(samples) / sr == pytest.approx(tempo_end(song) + 1.0, abs=0.05)
    rms = float(np.sqrt(np.mean(samples ** 2)))
    assert rms > 0.005, f"the render is (nearly) silent: rms {rms}"
    # the seed has two parts (a melody and a bass line, each with its own instrument):
    # heard one part at a time, each note's strongest frequency is its own
    assert len(song.tracks) == 2
    for index in range(len(song.tracks)):
        part = song.copy()
        part.tracks = [part.tracks[index]]
        alone = tmp_path / f"part-{index}.wav"
        render_song_to_wav(part, alone)
        samples, sr = read_wav(alone)
        off = semitones_off_per_note(part, samples, sr)
        assert all(abs(x) < 0.5 for x in off), (part.tracks[0].name, off)


def tempo_end(song: Song) -> float:
    return song.tempo_map.tick_to_seconds(song.end_tick)


def test_the_additive_fallback_also_follows_the_notes():
    song = melody_song([Note(57, 0, 480), Note(64, 480, 480), Note(72, 960, 960)])
    samples, used = render_song(song, 22_050, engine="additive")
    assert used == "additive"
    off = semitones_off_per_note(song, samples, 22_050)
    assert all(abs(x) < 0.5 for x in off), off


@needs_fluidsynth
def test_program_changes_change_the_sound():
    a = melody_song([Note(60, 0, 960)], program=0)
    b = melody_song([Note(60, 0, 960)], program=73)  # flute
    sa, _ = render_song(a, 22_050)
    sb, _ = render_song(b, 22_050)
    assert not np.allclose(sa[:20000], sb[:20000], atol=1e-3)


def test_live_synth_output_never_fails_to_construct():
    # No sound card here: every driver may fail; the output still takes messages.
    out = SynthOutput(drivers=("alsa",))
    try:
        assert isinstance(out, Output) and out.name == BUILTIN_SYNTH_NAME
        out.send(mido.Message("note_on", note=60))
        out.send(mido.Message("note_off", note=60))
        if not out.audible:
            assert "silent" in out.status
    finally:
        out.close()


def test_a_missing_soundfont_is_a_clear_error(tmp_path):
    from engine.live.synth import FluidSynth

    if not fluidsynth_available():
        pytest.skip("libfluidsynth is not installed")
    bad = tmp_path / "not.sf2"
    bad.write_bytes(b"RIFF0000sfbk")
    with pytest.raises(SynthError, match="not a soundfont"):
        FluidSynth(bad)


@pytest.mark.parametrize("platform, expected, foreign", [
    ("linux", ("pulseaudio", "pipewire", "alsa"), ("coreaudio", "wasapi", "dsound")),
    ("darwin", ("coreaudio",), ("alsa", "wasapi", "pulseaudio")),
    ("win32", ("wasapi", "dsound"), ("alsa", "coreaudio", "pulseaudio")),
])
def test_only_the_platforms_audio_drivers_are_tried_and_named(platform, expected, foreign):
    from engine.live.synth import platform_audio_drivers, silence_advice

    assert platform_audio_drivers(platform) == expected
    advice = silence_advice(platform)
    assert "Export Audio" in advice
    assert not any(d in advice.lower() for d in foreign)
    if platform == "linux":
        assert "PipeWire" in advice and "JACK" in advice


def test_a_silent_synth_says_why_in_a_few_words_and_what_to_do():
    import sys

    from engine.live.synth import AUDIO_DRIVERS, silence_advice

    out = SynthOutput(drivers=("no-such-driver",))
    try:
        if out.silence == "no audio device":
            assert out.status.endswith(silence_advice())
            assert "no-such-driver" in out.status
        if sys.platform.startswith("linux"):
            assert not {"coreaudio", "wasapi", "dsound"} & set(AUDIO_DRIVERS)
    finally:
        out.close()


def test_general_midi_programs_come_in_sixteen_families_of_eight():
    from engine.live.gm import FAMILIES, PROGRAMS, family_of, program_name, programs_by_family

    assert len(PROGRAMS) == 128 and len(set(PROGRAMS)) == 128 and len(FAMILIES) == 16
    assert program_name(0) == "Acoustic Grand Piano" and program_name(40) == "Violin"
    assert family_of(40) == "Strings" and program_name(127) == "Gunshot"
    assert [len(p) for _, p in programs_by_family()] == [8] * 16
    with pytest.raises(ValueError):
        program_name(128)


def test_loading_fluidsynth_prints_nothing_even_on_a_ci_machine():
    """pyfluidsynth prints where it found the library when CI is set; the CLI writes
    music and JSON to standard output, so nothing of that may reach it."""
    import os
    import subprocess
    import sys

    code = ("from engine.live.synth import fluidsynth_available as a, FluidSynth\n"
            "print('loaded' if a() else 'missing')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2],
                            env={**os.environ, "CI": "true"}, timeout=120, check=True)
    assert result.stdout.splitlines() in (["loaded"], ["missing"]), result.stdout
