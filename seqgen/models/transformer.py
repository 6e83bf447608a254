"""Decoder-only transformer (GPT): token embeddings, pre-LayerNorm blocks of causal multi-head
self-attention and an MLP. The recipe is the config's, each part a field: by default rotary
positions and a ReLU^2 MLP with a tied head (they won issue 17's ablation); GPT-2's (learned
positions, GELU), QK-norm, an untied head and zero-initialised output projections are options.

Attention runs through `F.scaled_dot_product_attention` (flash/memory-efficient kernels where the
device has them) with `is_causal=True`: position t never attends to positions after t. The state is
a `KVCache` (keys and values of the tokens already fed), so incremental decoding costs one token's
work per step instead of re-running the whole context. A rotary model's cache may roll past the
context; in training on streams its state is a `Memory` of the last context, carried from window
to window (Transformer-XL's recurrence, limited to the rolling cache's window), so it is trained
on exactly what its rolling cache computes when it samples.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from seqgen.config import TransformerConfig
from seqgen.models.base import SequenceModel


class KVCache:
    """Keys/values per layer, (B, n_head, block_size, head_size) each, allocated at the first write
    in the dtype attention computes in (bf16 under autocast), so reading them back converts nothing.

    `rolling` (rotary models only): once full, each new token's key and value overwrite the oldest
    slot, so decoding goes on past the context at one token's cost; attention over a set of keys
    does not depend on their order, and rotary keys carry their own positions."""

    def __init__(self, cfg: TransformerConfig, batch_size: int, device: torch.device, rolling: bool = False):
        self.shape = (batch_size, cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head)
        self.k: list[torch.Tensor | None] = [None] * cfg.n_layer
        self.v: list[torch.Tensor | None] = [None] * cfg.n_layer
        self.device = device
        self.length = 0  # tokens cached so far (at most capacity)
        self.position = 0  # tokens fed so far: the next token's position
        self.capacity = cfg.block_size
        self.rolling = rolling

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, nh, T, hs) after the cached tokens; return every key and value so far."""
        keys, values = self.k[layer], self.v[layer]
        if keys is None or values is None:
            keys = self.k[layer] = torch.empty(self.shape, device=self.device, dtype=k.dtype)
            values = self.v[layer] = torch.empty(self.shape, device=self.device, dtype=v.dtype)
        if self.rolling and self.position + k.size(2) > self.capacity:  # one token into the oldest slot
            slot = self.position % self.capacity
            keys[:, :, slot : slot + 1] = k
            values[:, :, slot : slot + 1] = v
            return keys, values
        end = self.length + k.size(2)
        keys[:, :, self.length : end] = k
        values[:, :, self.length : end] = v
        return keys[:, :, :end], values[:, :, :end]

    def full_and_rolling(self, new: int) -> bool:
        """Whether `new` tokens go into a full rolling cache (one at a time: no mask needed)."""
        return self.rolling and self.position + new > self.capacity

    def advance(self, new: int) -> None:
        self.position += new
        self.length = min(self.position, self.capacity)


class Memory:
    """A training stream's memory (Transformer-XL's recurrence, kept to the sampler's window): per
    layer, the keys (before their rotary turn) and values of the stream's last `block_size` tokens,
    carried from one training window to the next and detached, so a rotary model trains as its
    rolling cache samples. Each new token sees the `block_size` tokens up to itself, the earlier
    ones from memory, exactly the window a full rolling cache gives it; `valid` (B,) counts the
    memory's tokens that belong to each row's current document (0: the row starts a document)."""

    def __init__(self, capacity: int, valid: torch.Tensor, k: list[torch.Tensor], v: list[torch.Tensor]):
        self.capacity, self.valid, self.k, self.v = capacity, valid, k, v
        self.next_k: list[torch.Tensor] = []  # this window's, written layer by layer
        self.next_v: list[torch.Tensor] = []
        self.mask: torch.Tensor | None = None  # (B, 1, T, M + T), set by the forward

    @property
    def size(self) -> int:
        """Tokens held (the same for every row; `valid` says how many of them a row may see)."""
        return self.k[0].size(2) if self.k else 0

    def detached(self) -> Memory:
        return Memory(self.capacity, self.valid, [k.detach() for k in self.k], [v.detach() for v in self.v])

    def restarted(self, rows: torch.Tensor) -> Memory:
        """The same memory, the rows where `rows` (B,) is True starting a document: they see none of it."""
        return Memory(self.capacity, self.valid.masked_fill(rows, 0), self.k, self.v)

    def band(self, T: int, device: torch.device) -> torch.Tensor:
        """(B, 1, T, M + T): window token t (at M + t) sees the `capacity` tokens up to itself, the
        held ones only where they belong to its row's document."""
        M = self.size
        i = torch.arange(T, device=device)[:, None] + M
        j = torch.arange(M + T, device=device)[None, :]
        band = (j <= i) & (j > i - self.capacity)  # (T, M + T)
        mine = j >= (M - self.valid.to(device))[:, None]  # (B, M + T)
        return band[None, None] & mine[:, None, None, :]

    def advanced(self, T: int) -> Memory:
        """The memory the next window starts from: the keys and values just written."""
        return Memory(self.capacity, (self.valid + T).clamp(max=self.capacity), self.next_k, self.next_v)


class Rotary(nn.Module):
    """Rotary position embeddings (RoPE, Su et al. 2021): each pair of a head's channels is turned
    by an angle proportional to the token's position, so a query-key product depends only on how
    far apart the two are. Cached keys keep their meaning wherever a window starts."""

    inv_freq: torch.Tensor

    def __init__(self, head_size: int, base: float = 10000.0):
        super().__init__()
        inv = 1.0 / (base ** (torch.arange(0, head_size, 2, dtype=torch.float32) / head_size))
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin) of each position's angles, (T, hs/2): computed once per forward, used by
        every layer."""
        angles = positions.to(torch.float32)[:, None] * self.inv_freq[None, :]
        return angles.cos(), angles.sin()

    @staticmethod
    def turn(x: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """`x` (B, nh, T, hs) turned by the angles of its positions."""
        cos, sin = (c.to(x.dtype) for c in cos_sin)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qk_norm = cfg.qk_norm
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.dropout = cfg.dropout

    def forward(
        self,
        x: torch.Tensor,
        cache: KVCache | None = None,
        layer: int = 0,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        memory: Memory | None = None,
    ) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.qk_norm:
            q, k = F.rms_norm(q, (q.size(-1),)), F.rms_norm(k, (k.size(-1),))
        if memory is not None and rope is not None:
            return self._with_memory(q, k, v, memory, layer, rope)
        if rope is not None:  # rotary positions: (cos, sin) of these tokens' angles
            q, k = Rotary.turn(q, rope), Rotary.turn(k, rope)
        mask = None
        is_causal = T > 1
        if cache is not None and cache.full_and_rolling(T):
            if T != 1:
                raise ValueError("a full rolling cache takes one token at a time")
            k, v = cache.append(layer, k, v)
            k, v = k.to(q.dtype), v.to(q.dtype)
            is_causal = False  # the one new query sees every cached key
        elif cache is not None:
            start = cache.length
            k, v = cache.append(layer, k, v)
            k, v = k.to(q.dtype), v.to(q.dtype)  # no-ops unless the cache outlived an autocast change
            if start > 0 and T > 1:
                # New queries see every cached key and the new keys up to themselves.
                mask = torch.ones(T, start + T, dtype=torch.bool, device=x.device).tril(diagonal=start)
                is_causal = False
            elif start > 0:
                is_causal = False  # one new query may see everything cached
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=is_causal, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))

    def _with_memory(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        memory: Memory,
        layer: int,
        rope: tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        """Attention of a training window over the memory and itself: keys held turned to
        positions 0..M-1, the window's at M..M+T-1, under the memory's band mask."""
        B, _, T, _ = q.shape
        if memory.k:
            k = torch.cat([memory.k[layer].to(k.dtype), k], dim=2)
            v = torch.cat([memory.v[layer].to(v.dtype), v], dim=2)
        keep = min(k.size(2), memory.capacity)
        memory.next_k.append(k[:, :, -keep:])
        memory.next_v.append(v[:, :, -keep:])
        cos, sin = rope
        q = Rotary.turn(q, (cos[-T:], sin[-T:]))
        k = Rotary.turn(k, rope)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=memory.mask, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).contiguous().view(B, T, -1)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)
        self.relu2 = cfg.mlp == "relu2"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c_fc(x)
        h = F.relu(h).square() if self.relu2 else F.gelu(h)
        return self.dropout(self.c_proj(h))


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(
        self,
        x: torch.Tensor,
        cache: KVCache | None,
        layer: int,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        memory: Memory | None = None,
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer, rope, memory)
        return x + self.mlp(self.ln_2(x))


class Transformer(SequenceModel):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.context_limit = cfg.block_size
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        # Learned positions: a table (GPT-2). Rotary ones live in attention and have no table.
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.positions == "learned" else None
        self.rotary = Rotary(cfg.n_embd // cfg.n_head) if cfg.positions == "rotary" else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_head:
            self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf, 2017)
        self.apply(self._init_weights)
        # GPT-2: scale residual projections by 1/sqrt(2 * n_layer) so the residual stream stays O(1);
        # or start them at zero, so each block begins as the identity (modded-nanogpt).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                if cfg.zero_init:
                    nn.init.zeros_(p)
                else:
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def rolls(self) -> bool:
        """Rotary positions are relative: cached keys keep their meaning as the window slides, so
        decoding past the context may keep a rolling cache (`init_state(rolling=True)`)."""
        return self.cfg.positions == "rotary" and not self.cfg.pin_header

    @property
    def pins_header(self) -> bool:  # type: ignore[override]
        """Trained on windows that keep their tune's header lines in front (`--pin-header`): it
        decodes past its context by re-encoding windows that keep them too, not by rolling."""
        return self.cfg.pin_header

    @property
    def carries_state(self) -> bool:  # type: ignore[override]
        """A rotary model trains on streams with a `Memory`, as its rolling cache samples."""
        return self.rolls

    def init_state(self, batch_size: int, device: torch.device, rolling: bool = False) -> KVCache:
        return KVCache(self.cfg, batch_size, device, rolling=rolling and self.rolls)

    def stream_state(self, batch_size: int, device: torch.device) -> Memory | None:
        if not self.carries_state:
            return None
        return Memory(self.cfg.block_size, torch.zeros(batch_size, dtype=torch.long, device=device), [], [])

    def restart_rows(self, state: Memory | None, rows: torch.Tensor) -> Memory | None:
        return None if state is None else state.restarted(rows)

    def forward(
        self, idx: torch.Tensor, state: KVCache | Memory | None = None
    ) -> tuple[torch.Tensor, KVCache | Memory | None]:
        if isinstance(state, Memory):
            return self._stream(idx, state)
        _, T = idx.shape
        start = state.position if state is not None else 0
        rolling = state is not None and state.rolling
        if start + T > self.cfg.block_size and not (rolling and T == 1):
            how = "; a rolling cache goes past it one token at a time" if rolling else ""
            raise ValueError(f"context of {start + T} tokens exceeds block_size {self.cfg.block_size}{how}")
        pos = torch.arange(start, start + T, dtype=torch.long, device=idx.device)  # (T,)
        x = self.wte(idx) if self.wpe is None else self.wte(idx) + self.wpe(pos)
        x = self.drop(x)  # (B, T, C)
        rope = self.rotary(pos) if self.rotary is not None else None
        for i, block in enumerate(self.blocks):
            x = block(x, state, i, rope)
        if state is not None:
            state.advance(T)
        return self.lm_head(self.ln_f(x)), state  # (B, T, V)

    def _stream(self, idx: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, Memory]:
        """A training window read after the memory of its stream (see `Memory`)."""
        assert self.rotary is not None, "only a rotary model carries a memory"
        _, T = idx.shape
        memory.next_k, memory.next_v = [], []
        memory.mask = memory.band(T, idx.device)
        rope = self.rotary(torch.arange(memory.size + T, device=idx.device))
        x = self.drop(self.wte(idx))
        for i, block in enumerate(self.blocks):
            x = block(x, None, i, rope, memory)
        return self.lm_head(self.ln_f(x)), memory.advanced(T)
