"""`seqgen plot`: a run's loss curves and a MIDI file's piano roll are real PNGs of the promised
size, drawn headless, with the data's colours where the data is."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from seqgen.measure import plots
from seqgen.music.midi_io import write_midi
from seqgen.music.notes import Note
from tests.conftest import invoke

TINY = ["--model", "lstm", "--n-layer", "1", "--n-embd", "16", "--block-size", "16", "--batch-size", "4"]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def pixels(path: Path) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(path)[:, :, :3]  # (H, W, RGB) floats in [0, 1]


def has_colour(img: np.ndarray, hex_colour: str, tol: float = 0.06) -> int:
    """How many pixels are within `tol` of the colour (per channel)."""
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int(np.all(np.abs(img - rgb) < tol, axis=-1).sum())


def test_plot_run_draws_train_and_val_loss_with_the_learning_rate(text_file):
    assert invoke("prepare", text_file, "--name", "p").exit_code == 0
    r = invoke("train", "--data", "data/p", *TINY, "--max-iters", "40", "--eval-interval", "10", "--run", "r")
    assert r.exit_code == 0, r.output
    r = invoke("plot", "checkpoints/r")
    assert r.exit_code == 0, r.output
    assert "4 evaluations" in r.output  # steps 10, 20, 30, 40
    out = Path("checkpoints/r/loss.png")
    assert png_size(out) == plots.RUN_SIZE
    img = pixels(out)
    assert has_colour(img, "#1b9e77") > 200  # the val-loss line
    assert has_colour(img, "#7570b3") > 200  # the train-loss line
    # Redrawing the run's own picture is fine; an explicit --out that exists is refused.
    assert invoke("plot", "checkpoints/r").exit_code == 0
    Path("mine.png").write_bytes(b"keep")
    r = invoke("plot", "checkpoints/r", "--out", "mine.png")
    assert r.exit_code == 1 and "already exists" in r.output
    assert Path("mine.png").read_bytes() == b"keep"


def test_piano_roll_puts_each_note_at_its_time_and_pitch():
    # A rising C major scale, one note per second, then a long high C.
    notes = [Note(i, i + 0.9, p, 100) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71])]
    notes.append(Note(7, 11, 72, 30))
    write_midi(notes, "scale.mid")
    r = invoke("plot", "scale.mid")
    assert r.exit_code == 0, r.output
    assert "8 notes" in r.output
    img = pixels(Path("scale.png"))
    assert png_size(Path("scale.png")) == plots.ROLL_SIZE
    # Note bars are drawn in viridis by velocity: find the coloured columns and rows.
    ink = (img.max(axis=-1) - img.min(axis=-1)) > 0.25  # saturated pixels: bars, not grey axes
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    assert len(rows) > 20 and len(cols) > 500
    # The highest note (C5, bar at the top) is the last and longest: its row's ink starts latest.
    top = ink[rows[0] : rows[0] + 3].any(axis=0)
    bottom = ink[rows[-1] - 2 : rows[-1] + 1].any(axis=0)
    assert np.flatnonzero(top)[0] > np.flatnonzero(bottom)[-1]  # C5 starts after C4 ends
    assert np.flatnonzero(top).size > 3 * np.flatnonzero(bottom).size  # and lasts 4x longer


@pytest.mark.parametrize(
    "args,message",
    [
        (["plot", "nowhere.mid"], "does not exist"),
        (["plot", "notes.txt"], "neither a run directory, a .mid file nor an .abc tune"),
        (["plot", "."], "holds no metrics.jsonl"),
        (["plot", "scale.mid", "--out", "roll.jpg"], "must end in .png"),
    ],
)
def test_plot_refuses_bad_input(args, message):
    Path("notes.txt").write_text("hello\n")
    write_midi([Note(0, 1, 60, 90)], "scale.mid")
    r = invoke(*args)
    assert r.exit_code == 1 and message in r.output, r.output
    assert "Traceback" not in r.output
