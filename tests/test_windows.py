"""Where training windows go (seqgen.datasets.batches), and the state carried across them: the
LSTM's (h, c) and a rotary transformer's memory."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.config import LSTMConfig, TransformerConfig, read_toml
from seqgen.datasets.batches import IGNORE, BatchSampler, document_starts
from seqgen.errors import SeqgenError
from seqgen.models import build_model
from seqgen.train.runner import _detached

from .conftest import FIXTURES, invoke

EOS = 0
CPU = torch.device("cpu")


def corpus(lengths: list[int]) -> np.ndarray:
    """Documents of the given lengths (ids 1.. counting up inside each), each followed by EOS."""
    out: list[int] = []
    for n in lengths:
        out += [*range(1, n + 1), EOS]
    return np.array(out, dtype=np.uint8)


def test_document_starts_are_the_eos_before_each_document() -> None:
    data = corpus([3, 2, 4])  # 1 2 3 E 1 2 E 1 2 3 4 E
    starts, ends = document_starts(data, EOS)
    assert starts.tolist() == [0, 3, 6]
    assert ends.tolist() == [3, 6, 11]


def test_tune_windows_open_every_document_as_sampling_does() -> None:
    data = corpus([5, 7, 6, 5, 8] * 20)
    b = BatchSampler(data, batch_size=64, block_size=10, seed=1, device=CPU, windows="tunes", eos=EOS)
    for _ in range(5):
        x, y = b.next()
        starts = x[:, 0].tolist()
        # Row 0 of the split may start at index 0 (the first tune has no EOS before it).
        assert all(s == EOS or s == 1 for s in starts)
        assert (y[x[:, 0] == EOS, 0] == 1).all()  # after the EOS, the tune's first token


def test_a_long_tune_is_read_from_its_start_and_from_inside() -> None:
    data = corpus([4, 40, 4] * 30)
    b = BatchSampler(data, batch_size=200, block_size=12, seed=3, device=CPU, windows="tunes", eos=EOS)
    x, y = b.next()
    long_rows = [r for r in range(len(x)) if x[r, 0] > 1 or (x[r, 0] == EOS and y[r, 1] != 2) or y[r, 4] > 4]
    inside = [r for r in long_rows if x[r, 0] != EOS]
    assert inside, "no window from inside a long tune"
    for r in inside:  # a window inside the tune ends no later than its EOS
        row = y[r].tolist()
        assert EOS not in row[:-1]


def test_streams_read_each_tune_window_by_window_and_resume_exactly() -> None:
    data = corpus([5, 19, 3, 7] * 50)
    b = BatchSampler(data, batch_size=4, block_size=8, seed=5, device=CPU, windows="streams", eos=EOS)
    batches = [b.next() for _ in range(3)]
    state = b.get_state()
    for (_, y1), (x2, _) in itertools.pairwise(batches):
        for row in range(4):
            if x2[row, 0] == EOS:  # a new tune: the last one was read to its end
                assert EOS in y1[row].tolist()
            else:  # the same tune, on from where the last window stopped
                assert x2[row, 0] == y1[row, -1]
    again = BatchSampler(data, batch_size=4, block_size=8, seed=99, device=CPU, windows="streams", eos=EOS)
    again.set_state(state)
    after = b.next()[0]
    assert torch.equal(again.next()[0], after)


def test_stream_windows_stop_at_the_tune_end() -> None:
    """Targets past a tune's EOS are ignored: a window never teaches one tune from another."""
    data = corpus([3, 20] * 10)
    b = BatchSampler(data, batch_size=8, block_size=8, seed=2, device=CPU, windows="streams", eos=EOS)
    for _ in range(6):
        _, y = b.next()
        for row in y.tolist():
            if EOS in row:
                end = row.index(EOS)
                assert all(t == IGNORE for t in row[end + 1 :])
            else:
                assert IGNORE not in row


def test_streams_start_apart_and_wrap_to_a_tune_after_an_eos() -> None:
    data = corpus([3, 4, 5, 6, 7])
    data[data != EOS] += np.repeat(np.arange(5) * 10, [3, 4, 5, 6, 7]).astype(np.uint8)  # own ids
    b = BatchSampler(data, batch_size=5, block_size=4, seed=4, device=CPU, windows="streams", eos=EOS)
    first = [b.next() for _ in range(12)]
    x0 = first[0][0]
    assert len({tuple(r) for r in x0.tolist()}) == 5  # five streams, five different tunes
    # Past the last tune a stream starts again at the EOS before the second tune (a fresh state),
    # never at index 0 (where nothing marks a new tune).
    for x, _ in first[1:]:
        assert not any(r[0] == 1 and r[1] == 2 and r[2] == 3 and r[3] == EOS for r in x.tolist())


def test_windows_that_need_documents_refuse_text() -> None:
    with pytest.raises(SeqgenError, match="use --windows random"):
        BatchSampler(np.arange(100, dtype=np.uint8), 2, 8, 1, CPU, windows="streams", eos=None)


def test_a_new_tune_starts_its_stream_from_zeros() -> None:
    torch.manual_seed(0)
    model = build_model("lstm", LSTMConfig(vocab_size=11, n_layer=1, n_embd=8, block_size=4))
    state = (torch.ones(1, 3, 8), torch.ones(1, 3, 8))
    h, c = model.restart_rows(state, torch.tensor([True, False, True]))
    assert h[0, 0].abs().sum() == 0 and c[0, 2].abs().sum() == 0
    assert torch.equal(h[0, 1], torch.ones(8))


def test_random_windows_keep_their_old_stream() -> None:
    """A run from before window placement existed resumes with the same random windows."""
    data = corpus([6] * 100)
    a = BatchSampler(data, batch_size=8, block_size=5, seed=7, device=CPU)
    g = torch.Generator().manual_seed(7)
    ix = torch.randint(len(data) - 5, (8,), generator=g).numpy()
    assert torch.equal(a.next()[0], torch.from_numpy(data[ix[:, None] + np.arange(5)].astype(np.int64)))


def test_carried_state_makes_two_windows_one_sequence() -> None:
    """Truncated BPTT: window 2 started from window 1's final state gives the logits of one pass
    over both (so training sees what sampling sees), and the carried state holds no graph."""
    torch.manual_seed(0)
    model = build_model("lstm", LSTMConfig(vocab_size=11, n_layer=2, n_embd=16, block_size=8)).eval()
    ids = torch.randint(0, 11, (3, 16))
    whole, _ = model(ids)
    first, state = model(ids[:, :8])
    carried = _detached(state)
    assert all(not t.requires_grad for t in carried)
    second, _ = model(ids[:, 8:], carried)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    cold, _ = model(ids[:, 8:])
    assert not torch.allclose(cold, whole[:, 8:], atol=1e-4)


@pytest.mark.parametrize(
    "data, model, expected",
    [("abc", "transformer", "streams"), ("abc", "lstm", "streams"), ("text", "lstm", "random"),
     ("text", "transformer", "random")],
)  # fmt: skip
def test_auto_places_windows_by_data_and_model(data: str, model: str, expected: str) -> None:
    src = FIXTURES / "legacy" / "data" / data
    result = invoke(
        "train", "--data", str(src), "--model", model, "--max-iters", "3", "--eval-interval", "3",
        "--eval-iters", "1", "--run", "w", "--n-layer", "1", "--n-embd", "16", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = read_toml(Path("checkpoints/w/config.toml"))
    assert saved["windows"] == expected


def test_a_window_choice_is_checked() -> None:
    result = invoke("train", "--data", str(FIXTURES / "legacy" / "data" / "abc"), "--windows", "sideways")
    assert result.exit_code != 0
    assert "--windows must be auto, random, tunes or streams" in result.output


@pytest.mark.parametrize(
    "data, model, given, expected",
    [("abc", "lstm", None, 0.2), ("abc", "lstm", "0", 0.0), ("abc", "transformer", None, 0.0),
     ("text", "lstm", None, 0.0)],
)  # fmt: skip
def test_the_lstm_on_tunes_trains_with_dropout_unless_told(
    data: str, model: str, given: str | None, expected: float
) -> None:
    """The data kind's own model defaults (ABC: the LSTM with dropout 0.2) apply only where the user
    named no value."""
    src = FIXTURES / "legacy" / "data" / data
    extra = ["--dropout", given] if given is not None else []
    result = invoke(
        "train", "--data", str(src), "--model", model, "--max-iters", "1", "--eval-interval", "1",
        "--eval-iters", "1", "--run", "d", "--n-layer", "1", "--n-embd", "16", "--json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_toml(Path("checkpoints/d/config.toml"))["dropout"] == expected


def _rotary(block_size: int = 8, **kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=20, block_size=block_size, n_layer=2, n_head=2, n_embd=16, **kw)
    return build_model("transformer", cfg).eval()


def _rolling(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Logits of `ids` decoded one token at a time through a rolling KV cache, as sampling does."""
    state = model.init_state(ids.size(0), CPU, rolling=True)
    out = []
    with torch.no_grad():
        for t in range(ids.size(1)):
            logits, state = model(ids[:, t : t + 1], state)
            out.append(logits)
    return torch.cat(out, 1)


def test_a_rotary_transformer_trains_on_streams_as_its_rolling_cache_samples() -> None:
    """Window by window with its memory carried, a rotary model computes exactly what its rolling
    cache computes token by token, five contexts past its start: training sees what sampling sees."""
    model = _rotary()
    ids = torch.randint(0, 20, (3, 40))
    memory = model.stream_state(3, CPU)
    windows = []
    with torch.no_grad():
        for s in range(0, 40, 8):
            logits, memory = model(ids[:, s : s + 8], memory)
            windows.append(logits)
    torch.testing.assert_close(torch.cat(windows, 1), _rolling(model, ids), atol=1e-5, rtol=1e-5)
    # Without the memory, a later window is not what sampling computes there.
    fresh, _ = model(ids[:, 16:24])
    assert not torch.allclose(fresh, windows[2], atol=1e-3)


def test_a_row_starting_a_tune_sees_none_of_its_memory() -> None:
    model = _rotary()
    ids = torch.randint(0, 20, (3, 24))
    memory = model.stream_state(3, CPU)
    with torch.no_grad():
        _, memory = model(ids[:, :8], memory)
        _, memory = model(ids[:, 8:16], memory)
        memory = model.restart_rows(memory, torch.tensor([False, True, False]))
        third, _ = model(ids[:, 16:24], memory)
    torch.testing.assert_close(third[1], _rolling(model, ids[1:2, 16:24])[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(third[0], _rolling(model, ids[:1])[0, 16:24], atol=1e-5, rtol=1e-5)


def test_the_carried_memory_holds_no_graph_and_trains() -> None:
    """The runner detaches the memory (truncated back-propagation), and the window's loss still
    reaches every weight that made it."""
    model = _rotary(dropout=0.1).train()
    ids = torch.randint(0, 20, (2, 16))
    _, memory = model(ids[:, :8], model.stream_state(2, CPU))
    carried = _detached(memory)
    assert all(not t.requires_grad for t in carried.k + carried.v)
    logits, _ = model(ids[:, 8:], carried)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_transformer_with_learned_positions_reads_windows_afresh() -> None:
    """Learned positions cannot slide: such a model carries no memory (auto places random windows)."""
    model = _rotary(positions="learned")
    assert not model.carries_state and model.stream_state(2, CPU) is None
    assert _rotary().carries_state


def test_the_runner_carries_the_memory_and_restarts_rows_at_a_tune() -> None:
    """`loss_and_state` starts a stream's memory, carries it (detached) and restarts a row whose
    window opens with the end-of-tune id: its loss is what sampling computes from that tune's start."""
    from seqgen.config import TrainConfig
    from seqgen.train.distributed import Dist
    from seqgen.train.runner import ModelRunner

    cfg = TransformerConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=16)
    runner = ModelRunner(TrainConfig(model="transformer", compile="off"), cfg, CPU, None, Dist(), 0)
    runner.model.eval()
    ids = torch.randint(1, 20, (2, 25))
    ids[1, 16] = EOS  # row 1 opens a tune at its third window
    state = None
    with torch.no_grad():
        for s in range(0, 24, 8):
            loss, state = runner.loss_and_state(ids[:, s : s + 8], ids[:, s + 1 : s + 9], state, EOS)
    assert state.valid.tolist() == [8, 8] and not state.k[0].requires_grad
    # The last window's loss: row 0 read past two windows of memory, row 1 from its tune's start.
    logits = torch.cat([_rolling(runner.model, ids[:1, :24])[:, 16:], _rolling(runner.model, ids[1:, 16:24])])
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 20), ids[:, 17:25].reshape(-1))
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "extra, block, batch",
    [([], 128, 6), (["--block-size", "64"], 64, 12), (["--batch-size", "4"], 128, 4)],
)
def test_the_transformer_on_tunes_reads_a_longer_context_unless_told(
    extra: list[str], block: int, batch: int
) -> None:
    """ABC's own transformer defaults (context 128, batch 6: the same tokens per step as 64 x 12)
    apply where the user named neither; the batch goes with the kind's context only."""
    result = invoke(
        "train", "--data", str(FIXTURES / "legacy" / "data" / "abc"), "--model", "transformer",
        "--max-iters", "1", "--eval-interval", "1", "--eval-iters", "1", "--run", "b", "--n-layer", "1",
        "--n-embd", "16", "--json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = read_toml(Path("checkpoints/b/config.toml"))
    assert (saved["block_size"], saved["batch_size"]) == (block, batch)
