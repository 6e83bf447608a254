from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.config import PrepareConfig
from seqgen.datasets.batches import BatchSampler
from seqgen.datasets.corpus import text as text_corpus
from seqgen.datasets.kinds.text import prepare_text
from seqgen.datasets.store import open_dataset
from seqgen.errors import SeqgenError


def test_text_split_is_the_tail(text_file: Path):
    meta = prepare_text([text_file], Path("data/t"), PrepareConfig(val_fraction=0.1))
    ds = open_dataset("data/t")
    text = text_file.read_text()
    n_val = round(len(text) * 0.1)
    assert meta["tokens"] == {"train": len(text) - n_val, "val": n_val}
    assert ds.tokenizer.decode(np.asarray(ds.train)) == text[:-n_val]
    assert ds.tokenizer.decode(np.asarray(ds.val)) == text[-n_val:]
    assert isinstance(ds.train, np.memmap) and ds.train.dtype == np.uint8
    assert ds.kind == "text" and meta["counts"]["characters"] == len(text)


def test_large_vocabulary_uses_uint16(tmp_path: Path):
    p = tmp_path / "wide.txt"
    p.write_text("".join(chr(0x4E00 + i) for i in range(400)) * 3, encoding="utf-8")
    prepare_text([p], Path("data/w"), PrepareConfig())
    ds = open_dataset("data/w")
    assert ds.train.dtype == np.uint16 and ds.tokenizer.vocab_size == 400


def test_streaming_across_chunks_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Tiny chunks split multi-byte characters across reads; the result must not change.
    monkeypatch.setattr(text_corpus, "CHUNK_BYTES", 7)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("äöü ßé " * 30, encoding="utf-8")
    b.write_text("ça va? ✓ " * 30, encoding="utf-8")
    prepare_text([a, b], Path("data/s"), PrepareConfig())
    ds = open_dataset("data/s")
    whole = a.read_text() + b.read_text()
    assert ds.tokenizer.decode(np.concatenate([ds.train, ds.val])) == whole


def test_directory_input(tmp_path: Path):
    d = tmp_path / "books"
    d.mkdir()
    (d / "one.txt").write_text("first book text " * 10)
    (d / "two.txt").write_text("second book text " * 10)
    meta = prepare_text([d], Path("data/d"), PrepareConfig())
    assert meta["counts"]["files"] == 2


def test_existing_dataset_is_kept_without_force(text_file: Path):
    prepare_text([text_file], Path("data/t"), PrepareConfig())
    before = Path("data/t/train.bin").read_bytes()
    with pytest.raises(SeqgenError, match="already exists"):
        prepare_text([text_file], Path("data/t"), PrepareConfig(val_fraction=0.5))
    assert Path("data/t/train.bin").read_bytes() == before
    prepare_text([text_file], Path("data/t"), PrepareConfig(val_fraction=0.5), force=True)
    assert Path("data/t/train.bin").stat().st_size < len(before)


def test_failed_prepare_leaves_nothing(tmp_path: Path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good text here\n" * 5 + b"\xff\xfe oops")
    with pytest.raises(
        SeqgenError, match=r"bad.txt is not valid utf-8 text \(bad byte at offset 75\).*--encoding"
    ):
        prepare_text([bad], Path("data/bad"), PrepareConfig())
    assert not Path("data/bad").exists()
    assert list(Path("data").glob("*")) == []
    prepare_text([bad], Path("data/bad"), PrepareConfig(), encoding="latin-1")
    assert Path("data/bad/meta.json").is_file()


@pytest.mark.parametrize("content,match", [(b"", "holds no text"), (b"\x00\x01\x02binary", "binary")])
def test_empty_and_binary_files(tmp_path: Path, content: bytes, match: str):
    p = tmp_path / "x.txt"
    p.write_bytes(content)
    with pytest.raises(SeqgenError, match=match):
        prepare_text([p], Path("data/x"), PrepareConfig())


def test_batches_are_shifted_windows(text_file: Path):
    prepare_text([text_file], Path("data/t"), PrepareConfig())
    ds = open_dataset("data/t")
    sampler = BatchSampler(ds.train, batch_size=4, block_size=16, seed=0, device=torch.device("cpu"))
    x, y = sampler.next()
    assert x.shape == y.shape == (4, 16) and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])
    again = BatchSampler(ds.train, batch_size=4, block_size=16, seed=0, device=torch.device("cpu")).next()
    assert torch.equal(again[0], x)


def test_open_dataset_reports_missing_pieces(text_file: Path):
    prepare_text([text_file], Path("data/t"), PrepareConfig())
    Path("data/t/val.bin").unlink()
    with pytest.raises(SeqgenError, match="val.bin is missing"):
        open_dataset("data/t")
    with pytest.raises(SeqgenError, match="not a prepared dataset"):
        open_dataset("data/nothing")


@pytest.mark.parametrize("split", ["train", "val"])
def test_open_dataset_reports_an_empty_split_in_one_line(text_file: Path, split: str):
    prepare_text([text_file], Path("data/t"), PrepareConfig())
    Path(f"data/t/{split}.bin").write_bytes(b"")  # numpy cannot map an empty file
    with pytest.raises(SeqgenError, match=rf"{split}.bin is empty; prepare the dataset again"):
        open_dataset("data/t")
