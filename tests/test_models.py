import pytest
import torch

from seqgen.config import TrainConfig
from seqgen.models import build_model, count_parameters, model_config
from seqgen.train.optim import make_optimizer

V = 23
TINY = {
    "transformer": dict(n_layer=2, n_head=2, n_embd=16, block_size=32),
    "lstm": dict(n_layer=2, n_embd=16, block_size=32),
}


def tiny(name: str, **kw):
    torch.manual_seed(0)
    return build_model(name, model_config(name, vocab_size=V, **{**TINY[name], **kw})).eval()


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_shapes(name):
    model = tiny(name)
    idx = torch.randint(V, (3, 10))
    logits, _ = model(idx)
    assert logits.shape == (3, 10, V)
    assert count_parameters(model) > 0


@pytest.mark.parametrize("name", ["transformer", "lstm"])
@pytest.mark.parametrize("t", [0, 5, 17, 31])
def test_no_position_sees_the_future(name, t):
    """Changing token t never changes the logits at any position before t."""
    model = tiny(name)
    idx = torch.randint(V, (2, 32))
    changed = idx.clone()
    changed[:, t] = (changed[:, t] + 1) % V
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.equal(a[:, :t], b[:, :t])
    # ... and it does change the logits at t itself, so the test can fail.
    assert not torch.allclose(a[:, t], b[:, t])


def test_incremental_decoding_matches_full_forward():
    for name in ("transformer", "lstm"):
        model = tiny(name)
        idx = torch.randint(V, (2, 20))
        full, _ = model(idx)
        state = model.init_state(2, torch.device("cpu"))
        logits, state = model(idx[:, :7], state)  # prefill
        steps = [logits]
        for t in range(7, 20):
            logits, state = model(idx[:, t : t + 1], state)
            steps.append(logits)
        assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5), name


def test_cache_prefill_after_tokens_uses_correct_mask():
    model = tiny("transformer")
    idx = torch.randint(V, (1, 12))
    full, _ = model(idx)
    state = model.init_state(1, torch.device("cpu"))
    _, state = model(idx[:, :5], state)
    chunk, state = model(idx[:, 5:12], state)  # several new tokens after a filled cache
    assert torch.allclose(chunk, full[:, 5:12], atol=1e-5)


def test_transformer_refuses_context_past_block_size():
    model = tiny("transformer")
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 33, dtype=torch.long))


def test_transformer_ties_embeddings_and_lstm_has_no_context_limit():
    t, lstm = tiny("transformer"), tiny("lstm")
    assert t.lm_head.weight is t.wte.weight
    assert t.context_limit == 32 and lstm.context_limit is None


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_weight_decay_only_on_matrices(name):
    model = tiny(name)
    opt = make_optimizer(model, TrainConfig(max_iters=1), 1e-3, torch.device("cpu"))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] > 0 and no_decay["weight_decay"] == 0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_lstm_hidden_size_and_dropout_between_layers():
    model = tiny("lstm", hidden_size=24, dropout=0.2)
    assert model.lstm.hidden_size == 24 and model.lstm.dropout == 0.2
    assert model(torch.zeros(1, 4, dtype=torch.long))[0].shape == (1, 4, V)
