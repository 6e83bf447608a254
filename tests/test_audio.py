"""Audio: FluidSynth renders MIDI at a listening level. The rendering tests run for real where
FluidSynth and a soundfont are installed (CI installs them from Debian packages) and skip
elsewhere; the level maths and the install hints are tested everywhere."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from seqgen.errors import SeqgenError
from seqgen.generate import audio
from seqgen.music.midi_io import write_midi
from seqgen.music.notes import Note
from tests.conftest import FIXTURES, invoke


def _installed() -> bool:
    try:
        audio.check_audio()
        return True
    except SeqgenError:
        return False


needs_fluidsynth = pytest.mark.skipif(not _installed(), reason="FluidSynth or a soundfont is not installed")


def rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(x**2)))


def test_normalise_brings_quiet_audio_to_the_target_level():
    t = np.arange(44100) / 44100
    quiet = 0.01 * np.sin(2 * np.pi * 440 * t)
    out, rms, peak = audio.normalise(quiet)
    assert rms == pytest.approx(audio.TARGET_RMS_DBFS, abs=0.01)
    assert rms_db(out) == pytest.approx(-18.0, abs=0.01)
    assert peak < audio.PEAK_DBFS


def test_normalise_lets_the_peak_limit_a_spiky_signal():
    spiky = np.zeros(44100)
    spiky[::4410] = 0.9  # ten clicks: a high peak, a low RMS
    out, rms, peak = audio.normalise(spiky)
    assert peak == pytest.approx(audio.PEAK_DBFS, abs=0.01)
    assert np.max(np.abs(out)) == pytest.approx(10 ** (-1 / 20), rel=1e-6)
    assert rms < audio.TARGET_RMS_DBFS


def test_silence_stays_silent():
    out, rms, peak = audio.normalise(np.zeros(100))
    assert not out.any() and rms == peak == float("-inf")


def test_missing_fluidsynth_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    with pytest.raises(SeqgenError) as e:
        audio.check_audio()
    msg = str(e.value)
    assert "FluidSynth is not installed" in msg and "apt install fluidsynth" in msg and "brew install" in msg
    assert "MIDI still works" in msg


def test_missing_soundfont_says_how_to_install_one(monkeypatch):
    monkeypatch.setattr(audio, "SOUNDFONT_PLACES", ["/nowhere/a.sf2"])
    monkeypatch.delenv("SEQGEN_SOUNDFONT", raising=False)
    with pytest.raises(SeqgenError, match="no General MIDI soundfont found.*timgm6mb-soundfont"):
        audio.find_soundfont()
    monkeypatch.setenv("SEQGEN_SOUNDFONT", "/nowhere/b.sf2")
    with pytest.raises(SeqgenError, match=r"\$SEQGEN_SOUNDFONT /nowhere/b.sf2 does not exist"):
        audio.find_soundfont()


def _a440(path: str) -> Path:
    """Two seconds of A4 (440 Hz) on a piano, then two of A5."""
    return write_midi([Note(0.0, 2.0, 69, 100), Note(2.0, 4.0, 81, 100)], path)


@needs_fluidsynth
def test_render_wav_plays_the_notes_at_the_target_level():
    info = audio.render_wav(_a440("a.mid"), Path("a.wav"))
    with wave.open("a.wav", "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 44100)
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float) / 32768
    left = x[0::2]
    assert 4.0 <= len(left) / 44100 <= 7.0  # the notes plus the soundfont's release tail
    assert info["seconds"] == pytest.approx(len(left) / 44100)
    # The file is at the level render_wav reports: the RMS target, unless the peak limit held it lower.
    assert rms_db(x) == pytest.approx(info["rms_dbfs"], abs=0.05)
    if info["peak_dbfs"] < audio.PEAK_DBFS - 0.01:
        assert rms_db(x) == pytest.approx(audio.TARGET_RMS_DBFS, abs=0.05)
    else:
        assert info["rms_dbfs"] < audio.TARGET_RMS_DBFS
    assert np.max(np.abs(x)) <= 10 ** (audio.PEAK_DBFS / 20) + 1e-3

    def pitch(segment: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
        return np.fft.rfftfreq(len(segment), 1 / 44100)[np.argmax(spectrum)]

    assert pitch(left[int(0.5 * 44100) : int(1.5 * 44100)]) == pytest.approx(440, rel=0.02)
    assert pitch(left[int(2.5 * 44100) : int(3.5 * 44100)]) == pytest.approx(880, rel=0.02)


@needs_fluidsynth
def test_convert_wav_renders_a_folder_and_refuses_to_overwrite():
    Path("tunes").mkdir()
    _a440("tunes/one.mid")
    write_midi([Note(0, 1, 60, 90), Note(1, 2, 64, 90)], "tunes/two.mid")
    r = invoke("convert", "wav", "tunes", "--out", "audio")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in Path("audio").iterdir()) == ["one.wav", "two.wav"]
    before = Path("audio/one.wav").read_bytes()
    r = invoke("convert", "wav", "tunes", "--out", "audio")
    assert r.exit_code == 1 and "already exists" in r.output
    assert Path("audio/one.wav").read_bytes() == before


def test_convert_wav_without_fluidsynth_is_one_line(monkeypatch):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    _a440("a.mid")
    r = invoke("convert", "wav", "a.mid")
    assert r.exit_code == 1 and "FluidSynth is not installed" in r.output and "Traceback" not in r.output
    assert not Path("a.wav").exists()


def _abc_run() -> None:
    assert (
        invoke("prepare", FIXTURES / "abc_reels.abc", "--name", "reels", "--val-fraction", "0.2").exit_code
        == 0
    )
    args = ["--model", "transformer", "--n-layer", "1", "--n-head", "2", "--n-embd", "32"]
    args += ["--block-size", "32", "--max-iters", "30"]
    r = invoke(
        "train", "--data", "data/reels", *args, "--eval-interval", "30", "--eval-iters", "2", "--run", "m"
    )
    assert r.exit_code == 0, r.output


# A prompt that is already a tune, and one new character: every sample has notes, so a .mid.
TUNE_PROMPT = ["--prompt", "X:1\\nT:T\\nM:4/4\\nL:1/8\\nK:D\\nDEFG ABcd|", "--length", "1"]
SAMPLE = [
    "sample",
    "checkpoints/m",
    "--num-samples",
    "2",
    "--seed",
    "3",
    "--out",
    "s",
    "--wav",
    "--max-retries",
    "0",
]


@needs_fluidsynth
def test_sample_wav_renders_every_midi_sample():
    _abc_run()
    r = invoke(*SAMPLE, *TUNE_PROMPT)
    assert r.exit_code == 0, r.output
    mids = sorted(Path("s").glob("*.mid"))
    assert len(mids) == 2 and sorted(Path("s").glob("*.wav")) == [m.with_suffix(".wav") for m in mids]


def test_sample_wav_without_fluidsynth_still_writes_midi(monkeypatch):
    _abc_run()
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    r = invoke(*SAMPLE, *TUNE_PROMPT)
    assert r.exit_code == 0, r.output
    assert "no audio:" in r.output and "apt install fluidsynth" in r.output
    assert len(list(Path("s").glob("*.mid"))) == 2 and not list(Path("s").glob("*.wav"))


def test_the_plain_synth_sounds_the_pitch_and_draws_a_huge_note_in_bounded_memory(tmp_path: Path) -> None:
    """The page's fallback player: A4 comes out at 440 Hz; a note hundreds of seconds long (a
    barely trained model writes them) is drawn only while it still sounds, so it no longer takes
    hundreds of MB (measured: 110 MB for 10 minutes, the limit)."""
    import tracemalloc
    import wave

    import numpy as np

    from seqgen.generate.audio import PLAIN_RATE, plain_wav
    from seqgen.music.notes import Note

    a4 = tmp_path / "a4.wav"
    plain_wav([Note(0.0, 1.0, 69)], a4)
    with wave.open(str(a4)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(pcm))
    assert abs(np.argmax(spectrum) * PLAIN_RATE / len(pcm) - 440.0) < 2.0

    tracemalloc.start()
    info = plain_wav([Note(0.0, 9000.0, 62), Note(9000.0, 9001.0, 64)], tmp_path / "long.wav")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert info["seconds"] == pytest.approx(600.5, abs=0.01)  # cut at the 600 s limit
    assert peak < 150e6, f"{peak / 1e6:.0f} MB"  # was 600+ MB
