"""Character-level stacked LSTM: embedding -> n_layer nn.LSTM (cuDNN on CUDA) -> linear head.

The state is the LSTM's (h, c), carried token by token at sampling time, so generation costs the
same per token however long the sample grows. Gates keep gradients alive over long spans; the
trainer's gradient clipping handles the occasional exploding step.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from seqgen.config import LSTMConfig
from seqgen.models.base import SequenceModel


class LSTM(SequenceModel):
    carries_state = True

    def __init__(self, cfg: LSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        # One multi-layer nn.LSTM (not a Python loop of cells) so CUDA runs the fused cuDNN kernel;
        # its own inter-layer dropout is the only dropout between layers.
        self.lstm = nn.LSTM(
            cfg.n_embd,
            cfg.hidden,
            num_layers=cfg.n_layer,
            batch_first=True,
            dropout=cfg.dropout if cfg.n_layer > 1 else 0.0,
        )
        self.lm_head = nn.Linear(cfg.hidden, cfg.vocab_size)
        nn.init.normal_(self.wte.weight, std=0.02)
        # Forget-gate bias 1: remember by default early in training (Jozefowicz et al., 2015).
        for name, p in self.lstm.named_parameters():
            if name.startswith("bias_ih"):
                h = cfg.hidden
                with torch.no_grad():
                    p.zero_()
                    p[h : 2 * h].fill_(1.0)
            elif name.startswith("bias_hh"):
                nn.init.zeros_(p)

    context_limit = None  # an RNN sees everything it has been fed

    def init_state(self, batch_size: int, device: torch.device, rolling: bool = False) -> None:
        return None  # nn.LSTM reads None as zero (h, c)

    def restart_rows(
        self, state: tuple[torch.Tensor, torch.Tensor] | None, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(h, c) with the rows where `rows` is True zeroed: those rows start a new tune."""
        if state is None:
            return None
        keep = (~rows).to(state[0].dtype)[None, :, None]  # (1, B, 1): layers, batch, width
        return state[0] * keep, state[1] * keep

    def forward(
        self, idx: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        x = self.drop(self.wte(idx))  # (B, T, C)
        out, state = self.lstm(x, state)  # (B, T, H)
        logits = self.lm_head(self.drop(out))  # (B, T, V)
        return logits, state
