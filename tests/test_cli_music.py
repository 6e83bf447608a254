"""End to end through the CLI for music: ABC tunes -> dataset -> model -> .abc + .mid samples, and
`seqgen convert midi`."""

from pathlib import Path

import mido

from tests.conftest import FIXTURES, invoke


def midi_notes(path: Path) -> int:
    return sum(1 for m in mido.MidiFile(path) if m.type == "note_on" and m.velocity > 0)


def test_abc_prepare_train_sample_writes_playable_midi():
    r = invoke("prepare", FIXTURES / "abc_reels.abc", "--name", "reels", "--val-fraction", "0.2")
    assert r.exit_code == 0, r.output
    assert "train tunes" in r.output
    r = invoke(
        "train",
        "--data",
        "data/reels",
        "--model",
        "transformer",
        "--n-layer",
        "2",
        "--n-head",
        "2",
        "--n-embd",
        "64",
        "--block-size",
        "64",
        "--max-iters",
        "250",
        "--eval-interval",
        "250",
        "--eval-iters",
        "2",
        "--learning-rate",
        "3e-3",
        "--run",
        "reels",
    )
    assert r.exit_code == 0, r.output
    r = invoke(
        "sample",
        "checkpoints/reels",
        "--num-samples",
        "3",
        "--temperature",
        "0.5",
        "--seed",
        "1",
        "--max-retries",
        "5",
        "--out",
        "tunes",
    )
    assert r.exit_code == 0, r.output
    assert "passed the tune judge on the first try" in " ".join(r.output.split())
    abc = sorted(Path("tunes").glob("*.abc"))
    mids = sorted(Path("tunes").glob("*.mid"))
    assert len(abc) == 3 and abc[0].read_text().startswith("X:")
    assert mids, r.output
    assert all(midi_notes(m) >= 8 for m in mids)


def test_prompt_opens_the_tune():
    invoke("prepare", FIXTURES / "abc_reels.abc", "--name", "reels")
    invoke(
        "train",
        "--data",
        "data/reels",
        "--model",
        "transformer",
        "--n-layer",
        "1",
        "--n-head",
        "2",
        "--n-embd",
        "32",
        "--block-size",
        "32",
        "--max-iters",
        "5",
        "--run",
        "r",
    )
    r = invoke(
        "sample",
        "checkpoints/r",
        "--prompt",
        "X:1\\nM:6/8\\nK:D\\n",
        "--max-retries",
        "0",
        "--seed",
        "2",
        "--out",
        "o",
        "--length",
        "30",
    )
    assert r.exit_code == 0, r.output
    assert Path("o/sample_001.abc").read_text().startswith("X:1\nM:6/8\nK:D\n")
    r = invoke("sample", "checkpoints/r", "--primer", FIXTURES / "midi_small.mid")
    assert r.exit_code == 1 and "--primer applies to MIDI models only" in r.output


def test_midi_prepare_train_sample():
    r = invoke("prepare", FIXTURES / "midi_small.mid", FIXTURES / "midi_small.mid", "--name", "m")
    # The same piece twice is one piece: a split needs two distinct pieces.
    assert r.exit_code == 1 and "at least 2" in r.output
    Path("midis").mkdir()
    from seqgen.music.midi_io import write_midi
    from seqgen.music.notes import Note

    for k in range(4):
        notes = [Note(0.25 * i, 0.25 * i + 0.2, 60 + (i * (k + 1)) % 12) for i in range(40)]
        write_midi(notes, Path(f"midis/p{k}.mid"))
    Path("midis/broken.mid").write_bytes(b"MThd garbage")
    r = invoke("prepare", "midis", "--name", "m", "--val-fraction", "0.25")
    assert r.exit_code == 0, r.output
    assert "broken.mid" in r.output  # skipped, with its reason
    r = invoke(
        "train",
        "--data",
        "data/m",
        "--model",
        "lstm",
        "--n-layer",
        "1",
        "--n-embd",
        "64",
        "--block-size",
        "64",
        "--max-iters",
        "150",
        "--eval-interval",
        "150",
        "--run",
        "m",
    )
    assert r.exit_code == 0, r.output
    r = invoke(
        "sample",
        "checkpoints/m",
        "--num-samples",
        "2",
        "--length",
        "300",
        "--seed",
        "0",
        "--out",
        "gen",
        "--max-retries",
        "0",
        "--primer",
        "midis/p0.mid",
    )
    assert r.exit_code == 0, r.output
    mids = sorted(Path("gen").glob("*.mid"))
    assert len(mids) == 2 and all(midi_notes(m) > 0 for m in mids)
    r = invoke("sample", "checkpoints/m", "--prompt", "X:1")
    assert r.exit_code == 1 and "--prompt does not apply to a MIDI model" in r.output


def test_convert_midi_tunebook_reports_bad_tunes_and_keeps_going():
    book = Path("book.abc")
    book.write_text((FIXTURES / "abc_reels.abc").read_text() + "\nX:7\nT:Broken\nM:4/4\nL:1/8\nK:D\n[ceg4|\n")
    r = invoke("convert", "midi", book, "--out", "mid")
    assert r.exit_code == 0, r.output
    assert "Wrote 6 MIDI file(s)" in r.output and "1 failed" in r.output
    assert "book_007" in r.output
    files = sorted(Path("mid").glob("*.mid"))
    assert len(files) == 6 and all(midi_notes(f) >= 8 for f in files)
    r = invoke("convert", "midi", book, "--out", "mid")
    assert r.exit_code == 1 and "already exists" in r.output


def test_convert_event_text_to_midi():
    from seqgen.datasets.tokenizers.events import EventTokenizer

    tok = EventTokenizer()
    Path("events.txt").write_text("V20 ON60 SHIFT50 OFF60 ON64 SHIFT50 OFF64\n")
    r = invoke("convert", "midi", "events.txt", "--out", "mid")
    assert r.exit_code == 0, r.output
    notes = [(m.note) for m in mido.MidiFile("mid/events.mid") if m.type == "note_on" and m.velocity > 0]
    assert notes == [60, 64]
    assert tok.vocab_size > 388


def test_builtin_corpus_listing_and_prepare():
    r = invoke("prepare", "--list-corpora")
    assert r.exit_code == 0 and "oneills1850" in r.output and "(default)" in r.output
    r = invoke("prepare", "--corpus", "miscFolk", "--name", "misc")
    assert r.exit_code == 0, r.output
    assert Path("data/misc/meta.json").is_file()
