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


RECIPES = [
    {"positions": "rotary"},
    {"qk_norm": True},
    {"mlp": "relu2"},
    {"tie_head": False},
    {"zero_init": True},
    {"positions": "rotary", "qk_norm": True, "mlp": "relu2", "tie_head": False, "zero_init": True},
]


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("t", [0, 17, 31])
def test_every_recipe_is_causal_and_decodes_incrementally(recipe, t):
    model = tiny("transformer", **recipe)
    if recipe.get("zero_init"):  # zero projections: blocks are the identity; give them weights
        torch.manual_seed(1)
        for name, p in model.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, std=0.05)
    idx = torch.randint(V, (2, 32))
    changed = idx.clone()
    changed[:, t] = (changed[:, t] + 1) % V
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.equal(a[:, :t], b[:, :t]) and not torch.allclose(a[:, t], b[:, t])
    state = model.init_state(2, torch.device("cpu"))
    first, state = model(idx[:, :7], state)
    steps = [first] + [model(idx[:, i : i + 1], state)[0] for i in range(7, 32)]
    assert torch.allclose(torch.cat(steps, dim=1), a, atol=1e-5)


def test_the_recipe_parts_are_what_they_say():
    default = tiny("transformer")  # rotary positions and ReLU^2 (issue 17's ablation)
    assert default.wpe is None and default.rolls and default.lm_head.weight is default.wte.weight
    gpt2 = tiny("transformer", positions="learned", mlp="gelu")
    assert gpt2.wpe is not None and gpt2.lm_head.weight is gpt2.wte.weight and not gpt2.rolls
    modern = tiny("transformer", **RECIPES[-1])
    assert modern.wpe is None and modern.lm_head.weight is not modern.wte.weight and modern.rolls
    projections = [p for n, p in modern.named_parameters() if n.endswith("c_proj.weight")]
    assert projections and all(bool((p == 0).all()) for p in projections)
    from seqgen.models.transformer import MLP

    mlp = next(m for m in modern.modules() if isinstance(m, MLP))
    x = torch.tensor([[-2.0, 3.0]])
    assert mlp.relu2 and torch.equal(torch.relu(x).square(), torch.tensor([[0.0, 9.0]]))


def test_rotary_attention_depends_only_on_how_far_apart_tokens_are():
    from seqgen.models.transformer import Rotary

    rot = Rotary(8)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(pq: int, pk: int) -> float:
        turned_q = Rotary.turn(q, rot(torch.tensor([pq])))
        return float((turned_q * Rotary.turn(k, rot(torch.tensor([pk])))).sum())

    assert score(5, 2) == pytest.approx(score(105, 102), abs=1e-4)
    assert score(5, 2) != pytest.approx(score(5, 3), abs=1e-3)


def test_a_one_layer_rotary_models_rolling_cache_is_the_window_exactly():
    """One layer sees only token embeddings, so a cached key does not depend on the context it was
    made in: the rolling cache past the context must give what a fresh window of the last 32
    tokens gives (rotary: positions shifted by any amount change nothing)."""
    model = tiny("transformer", n_layer=1, positions="rotary")
    idx = torch.randint(V, (2, 80))
    state = model.init_state(2, torch.device("cpu"), rolling=True)
    logits, state = model(idx[:, :20], state)
    for i in range(20, 80):
        logits, state = model(idx[:, i : i + 1], state)
        window, _ = model(idx[:, max(0, i + 1 - 32) : i + 1])
        assert torch.allclose(logits[:, -1], window[:, -1], atol=1e-4), i


def test_a_saved_config_without_the_recipe_fields_reads_as_gpt2():
    from seqgen.config import TransformerConfig, from_dict

    old = from_dict(TransformerConfig, {"n_layer": 2, "n_head": 2, "n_embd": 16})
    recipe = (old.positions, old.qk_norm, old.mlp, old.tie_head, old.zero_init)
    assert recipe == ("learned", False, "gelu", True, False)
    new = from_dict(TransformerConfig, {"n_layer": 2, "n_head": 2, "n_embd": 16, "positions": "rotary"})
    assert new.positions == "rotary"
    with pytest.raises(Exception, match="is odd, and rotary positions"):
        TransformerConfig(n_head=4, n_embd=12, positions="rotary")
