"""Data kinds (seqgen.datasets.kinds): each kind's facts, preparing, prompts, rendering, checking and
reading files, with round trips per kind; and the registry's errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqgen.config import PrepareConfig
from seqgen.datasets.kinds import (
    AbcKind,
    DataKind,
    MidiKind,
    SourceOptions,
    TextKind,
    detect_kind,
    kind_named,
)
from seqgen.datasets.store import open_dataset
from seqgen.datasets.tokenizers.char import CharTokenizer
from seqgen.datasets.tokenizers.events import EventTokenizer
from seqgen.errors import SeqgenError
from seqgen.generate.writer import planned_paths
from seqgen.music.midi_io import read_midi, write_midi
from seqgen.music.notes import Note
from tests.conftest import FIXTURES

CFG = PrepareConfig(val_fraction=0.2)


# The facts every caller used to spell out per kind: stored names, units, default lengths, files.
@pytest.mark.parametrize(
    "name, cls, music, unit, short_unit, length, suffixes",
    [
        ("text", TextKind, False, "character", "character", 500, (".txt",)),
        ("abc", AbcKind, True, "character", "character", 2500, (".abc", ".mid")),
        ("midi", MidiKind, True, "event token", "token", 2500, (".mid",)),
    ],
)
def test_each_kind_is_found_by_its_stored_name_and_knows_its_facts(
    name: str, cls: type[DataKind], music: bool, unit: str, short_unit: str, length: int, suffixes: tuple
):
    kind = kind_named(name)
    assert isinstance(kind, cls) and kind.name == name
    assert (kind.music, kind.unit, kind.short_unit) == (music, unit, short_unit)
    assert kind.default_length == length and kind.sample_suffixes == suffixes
    paths = planned_paths(kind, Path("out"), 2)
    assert paths[1] == [Path("out") / f"sample_002{s}" for s in suffixes]


def test_an_unknown_kind_name_is_one_clear_error():
    with pytest.raises(SeqgenError, match=r"unknown data kind 'xml' \(seqgen knows abc, midi, text\)"):
        kind_named("xml")


def test_detect_kind_reads_suffixes_and_abc_wins_over_midi(tmp_path: Path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m/a.MID").write_bytes(b"")
    assert detect_kind([tmp_path / "m"]).name == "midi"
    (tmp_path / "m/b.abc").write_text("X:1\n")
    assert detect_kind([tmp_path / "m"]).name == "abc"
    assert detect_kind([FIXTURES / "text_small.txt"]).name == "text"
    with pytest.raises(SeqgenError, match="does not exist"):
        detect_kind([tmp_path / "nothing.abc"])


@pytest.mark.parametrize(
    "kind, options, message",
    [
        (TextKind(), SourceOptions(drums=True), "--drums/--no-drums does not apply to text input"),
        (AbcKind(), SourceOptions(encoding="latin-1"), "--encoding does not apply to ABC input"),
        (
            MidiKind(),
            SourceOptions(encoding="utf-8", validate=True, titles=True),
            "--encoding, --validate, --titles/--no-titles does not apply to MIDI input",
        ),
    ],
)
def test_prepare_refuses_options_of_other_kinds_before_reading(kind: DataKind, options, message: str):
    with pytest.raises(SeqgenError, match=message):
        kind.prepare([Path("never-read")], Path("data/x"), CFG, options)
    assert not Path("data/x").exists()


def test_text_round_trip_prepare_prompt_render(text_file: Path):
    kind = TextKind()
    meta = kind.prepare([text_file], Path("data/t"), CFG)
    ds = open_dataset("data/t")
    assert meta["kind"] == "text" and ds.data_kind is kind_named("text")
    start = kind.prompt_ids(ds.tokenizer, "The ")
    assert kind.render(ds.tokenizer, start, ds.tokenizer.encode("miller")).text == "The miller"
    assert kind.check(kind.render(ds.tokenizer, start, []), ended=False) is None  # text is kept as drawn
    assert kind.corpus_text(ds.train, ds.tokenizer) == text_file.read_text()[: len(ds.train)]
    tokens = kind.file_tokens(text_file, ds.tokenizer)
    assert ds.tokenizer.decode(tokens) == text_file.read_text()
    with pytest.raises(SeqgenError, match="never saw: '@'"):
        kind.prompt_ids(ds.tokenizer, "@")
    with pytest.raises(
        SeqgenError, match="--primer applies to MIDI models only; this model was trained on text"
    ):
        kind.prompt_ids(ds.tokenizer, "", FIXTURES / "midi_small.mid")


def test_abc_round_trip_file_tokens_render_and_check():
    kind = AbcKind()
    meta = kind.prepare([FIXTURES / "abc_reels.abc"], Path("data/r"), CFG)
    ds = open_dataset("data/r")
    tok = ds.tokenizer
    tokens = kind.file_tokens(FIXTURES / "abc_reels.abc", tok, Path("data/r"))
    assert len(tokens) == sum(meta["tokens"].values())  # every tune, each followed by the end token
    first = list(tokens[: list(tokens).index(tok.eos_id)])
    start = kind.prompt_ids(tok)
    assert start == [tok.eos_id]
    rendered = kind.render(tok, start, first)
    assert rendered.text is not None and rendered.text.startswith("X:") and rendered.text.endswith("|\n")
    assert rendered.notes and rendered.error is None
    assert kind.check(rendered, ended=True).ok
    verdict = kind.check(rendered, ended=False)
    assert not verdict.ok and verdict.reason == "the tune did not end within --length"
    broken = kind.render(tok, start, tok.encode("X:1\nK:D\n"))
    assert not kind.check(broken, ended=True).ok
    notes, tempo = kind.notes_of(rendered.text)
    assert notes == rendered.notes and tempo == rendered.tempo_qpm


def test_midi_round_trip_primer_render_check_and_file_tokens(tmp_path: Path):
    other = tmp_path / "other.mid"
    write_midi([Note(i * 0.25, i * 0.25 + 0.2, 60 + i % 12, 90) for i in range(24)], other)
    kind = MidiKind()
    kind.prepare([FIXTURES / "midi_small.mid", other], Path("data/m"), CFG)
    ds = open_dataset("data/m")
    tok = ds.tokenizer
    assert isinstance(tok, EventTokenizer) and ds.data_kind.name == "midi"
    tokens = kind.file_tokens(other, tok)
    assert tokens[-1] == tok.eos_id
    start = kind.prompt_ids(tok, "", other)
    assert start == [tok.eos_id, *tokens[:-1].tolist()]
    rendered = kind.render(tok, start, [])
    assert rendered.notes == tok.decode_notes(tokens.tolist()) and rendered.text is None
    assert kind.check(rendered, ended=False).ok  # a MIDI piece may stop at --length
    assert kind.corpus_text(np.asarray([1, 2]), tok) == "\u0101\u0102"
    assert kind.notes_of("V22 ON60 SHIFT50 OFF60")[0] == [Note(0.0, 0.5, 60, tok.bin_velocity(22))]
    with pytest.raises(SeqgenError, match="--prompt does not apply to a MIDI model"):
        kind.prompt_ids(tok, "X:1")
    assert read_midi(other)  # the fixture itself is music


def test_a_kind_refuses_the_wrong_tokenizer_in_one_line():
    with pytest.raises(SeqgenError, match="text data needs a character tokenizer, got 'midi-event'"):
        TextKind().prompt_ids(EventTokenizer())
    with pytest.raises(SeqgenError, match="MIDI data needs an event tokenizer, got 'char'"):
        MidiKind().render(CharTokenizer("ab"), [], [1])
    with pytest.raises(SeqgenError, match="text is not music"):
        TextKind().notes_of("hello")
