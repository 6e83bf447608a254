"""MIDI to audio: FluidSynth renders a MIDI file with a General MIDI soundfont into a WAV file,
which is then brought to a listening level.

Owns: finding the `fluidsynth` program and a soundfont (an explicit path, $SEQGEN_SOUNDFONT, then
the places Debian, Ubuntu, Fedora and Homebrew install them), the install hint when either is
missing, the rendering, and the loudness normalisation (RMS to -18 dBFS, peaks at most -1 dBFS).
Knows nothing about models or tokens; writes files only through `seqgen.files`.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.files import atomic_write

SAMPLE_RATE = 44100
TARGET_RMS_DBFS = -18.0  # a comfortable level for solo instrument music, as broadcast loudness targets
PEAK_DBFS = -1.0  # headroom against clipping in players that resample
INSTALL = (
    "install them: `sudo apt install fluidsynth timgm6mb-soundfont` (Debian/Ubuntu) or "
    "`brew install fluid-synth` plus a .sf2 soundfont (macOS, then --soundfont PATH or $SEQGEN_SOUNDFONT)"
)
SOUNDFONT_PLACES = [
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM2-2.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "/opt/homebrew/share/fluid-synth/sf2/VintageDreamsWaves-v2.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "~/.local/share/soundfonts/default.sf2",
]


def find_fluidsynth() -> str:
    path = shutil.which("fluidsynth")
    if path is None:
        raise SeqgenError(
            f"FluidSynth is not installed, so no audio can be rendered (MIDI still works); {INSTALL}"
        )
    return path


def find_soundfont(given: str | Path | None = None) -> Path:
    """The soundfont to render with: `given`, else $SEQGEN_SOUNDFONT, else the first one installed."""
    if given is not None or os.environ.get("SEQGEN_SOUNDFONT"):
        path = Path(given or os.environ["SEQGEN_SOUNDFONT"]).expanduser()
        where = "--soundfont" if given is not None else "$SEQGEN_SOUNDFONT"
        if not path.is_file():
            raise SeqgenError(f"{where} {path} does not exist; give the path of a .sf2 soundfont")
        return path
    for place in SOUNDFONT_PLACES:
        path = Path(place).expanduser()
        if path.is_file():
            return path
    raise SeqgenError(f"no General MIDI soundfont found (MIDI still works); {INSTALL}")


def check_audio(soundfont: str | Path | None = None) -> tuple[str, Path]:
    """(fluidsynth, soundfont), or the one-line error that says how to install what is missing."""
    return find_fluidsynth(), find_soundfont(soundfont)


def render_wav(midi: Path, wav: Path, soundfont: str | Path | None = None) -> dict[str, float]:
    """Render `midi` to `wav` (16-bit stereo, 44.1 kHz) at a listening level. Returns the seconds
    of audio and the RMS and peak levels written, in dBFS. The old `wav`, if any, is replaced only
    once the new one is complete."""
    program, font = check_audio(soundfont)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        cmd = [program, "-ni", "-q", "-g", "0.5", "-r", str(SAMPLE_RATE), "-F", str(raw), "-T", "wav"]
        try:
            done = subprocess.run([*cmd, str(font), str(midi)], capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise SeqgenError(
                f"FluidSynth took over 10 minutes to render {midi}; is it a very long piece?"
            ) from None
        if done.returncode != 0 or not raw.is_file() or raw.stat().st_size <= 44:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise SeqgenError(
                f"FluidSynth could not render {midi}: {detail[-1] if detail else 'no audio written'}"
            )
        with wave.open(str(raw), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    if width != 2:
        raise SeqgenError(f"FluidSynth wrote {8 * width}-bit audio for {midi}; expected 16-bit")
    audio = np.frombuffer(frames, dtype="<i2").astype(np.float32)
    del frames
    audio /= 32768.0
    audio, rms_db, peak_db = normalise(audio)
    pcm = _pcm16(audio)

    def write(f) -> None:
        with wave.open(f, "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm)

    atomic_write(wav, write)
    return {"seconds": len(audio) / channels / rate, "rms_dbfs": rms_db, "peak_dbfs": peak_db}


def normalise(audio: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Scale samples in [-1, 1] so the RMS is TARGET_RMS_DBFS, unless that would push the peak
    above PEAK_DBFS (then the peak sets the gain). Silence stays silence. Scales `audio` in place
    (a long piece's samples are not copied) and returns it with its RMS and peak in dBFS."""
    rms = float(np.sqrt(np.vdot(audio, audio) / audio.size)) if audio.size else 0.0  # no squared copy
    peak = max(float(audio.max()), -float(audio.min())) if audio.size else 0.0
    if peak == 0.0:
        return audio, -math.inf, -math.inf
    gain = min(10 ** (TARGET_RMS_DBFS / 20) / rms, 10 ** (PEAK_DBFS / 20) / peak)
    audio *= gain
    return audio, _db(rms * gain), _db(peak * gain)


def _pcm16(audio: np.ndarray) -> bytes:
    """Samples in [-1, 1] as 16-bit little-endian PCM, scaled in place (a long tune's samples are
    not copied again)."""
    audio *= 32767.0
    np.clip(np.round(audio, out=audio), -32768, 32767, out=audio)
    return audio.astype("<i2").tobytes()


def _db(x: float) -> float:
    return 20 * float(np.log10(x))


PLAIN_RATE = 22050  # the plain synth's sample rate: enough for a melody's harmonics, half the size
PLAIN_RING = 6.0  # seconds of a note the plain synth draws at most (its tone has died away by then)


def plain_wav(notes: list[Any], wav: Path, seconds_limit: float = 600.0) -> dict[str, float]:
    """Render notes (`seqgen.music.notes.Note`, times in seconds) to a mono WAV with a plain
    plucked-string tone (three harmonics, a fast attack and an exponential decay), for a player
    where FluidSynth is not installed. Percussion is skipped. Same level as `render_wav`."""
    end = min(max((n.end for n in notes), default=0.0), seconds_limit) + 0.5
    audio = np.zeros(int(end * PLAIN_RATE) + 1, dtype=np.float32)  # 10 minutes: 53 MB
    for n in notes:
        if n.drum or n.start >= seconds_limit:
            continue
        hold = max(0.05, min(n.end, seconds_limit) - n.start) + 0.25  # a short ring after release
        # A note decays by exp(-3 t): after 6 s it is 156 dB down, so nothing longer is rendered
        # (a model's note of hundreds of beats once took 600 MB to draw).
        t = np.arange(int(min(hold, PLAIN_RING) * PLAIN_RATE)) / PLAIN_RATE
        freq = 440.0 * 2 ** ((n.pitch - 69) / 12)
        tone = sum(a * np.sin(2 * np.pi * k * freq * t) for k, a in ((1, 1.0), (2, 0.4), (3, 0.15)))
        envelope = np.minimum(1.0, t / 0.005) * np.exp(-t * 3.0)
        envelope[t > hold - 0.25] *= np.exp(-(t[t > hold - 0.25] - (hold - 0.25)) * 20)
        i = int(n.start * PLAIN_RATE)
        piece = tone * envelope * (n.velocity / 127)
        audio[i : i + len(piece)] += piece[: len(audio) - i]
    audio, rms_db, peak_db = normalise(audio)
    pcm = _pcm16(audio)

    def write(f) -> None:
        with wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(PLAIN_RATE)
            w.writeframes(pcm)

    atomic_write(wav, write)
    return {"seconds": len(audio) / PLAIN_RATE, "rms_dbfs": rms_db, "peak_dbfs": peak_db}
