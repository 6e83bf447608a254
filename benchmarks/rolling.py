"""Issue 17's rolling cache, measured: what it does to loss past the context, and to latency.

Two parts, each optional (run alone: on a 2-core CPU a second busy process slows torch many times):

  --run RUN_DIR  (a rotary transformer's checkpoint directory) the mean next-token loss of the
      tokens past the model's context, teacher-forced over segments of its dataset's val split,
      with the three ways `generate` can go past the context:
        crop       every token predicted from exactly the `block_size` tokens before it (nanoGPT's
                   crop, `--window-step 1`: the exact, most expensive result);
        re-encode  `generate`'s default window for learned positions: when full, the window moves a
                   quarter of the context on and the kept 3/4 are re-encoded (`--re-encode`);
        rolling    the rolling KV cache (rotary models' default): each token at one token's cost,
                   the cached keys as they were made.

  --latency  per-token decoding latency of one sample of a 6 x 384, context-256 rotary model
      (random weights: speed does not depend on them), from 1 to --tokens new tokens, rolling
      against re-encode, as medians over bins of 256 tokens; with --nanogpt PATH (a checkout of
      karpathy/nanoGPT) its GPT of the same shape, `GPT.generate` (the crop, no cache), in the same
      process, for the tokens/s ratio.

  python benchmarks/rolling.py --run /tmp/abl/rotary-s1 --latency --nanogpt /tmp/nanoGPT
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seqgen.config import TransformerConfig
from seqgen.datasets.store import open_dataset
from seqgen.generate.sampler import generate, slide_step
from seqgen.models.transformer import Transformer
from seqgen.train.checkpoint import load_model


@torch.no_grad()
def losses_past_context(model: Transformer, seg: torch.Tensor) -> dict[str, float]:
    """Mean loss of predicting seg[limit+1:] (the tokens past the first full context) three ways."""
    limit = model.cfg.block_size
    n = seg.numel()
    targets = seg[limit + 1 :]
    out: dict[str, float] = {}
    # crop: position p predicted from seg[p-limit:p], in batches of windows
    rows = []
    for p0 in range(limit + 1, n, 64):
        ps = range(p0, min(p0 + 64, n))
        windows = torch.stack([seg[p - limit : p] for p in ps])
        rows.append(model(windows)[0][:, -1, :])
    out["crop"] = F.cross_entropy(torch.cat(rows), targets).item()
    # rolling: the first `limit` tokens at once, then one at a time
    state = model.init_state(1, seg.device, rolling=True)
    logits, state = model(seg[None, :limit], state)
    rows = []
    for cur in range(limit, n - 1):
        logits, state = model(seg[None, cur : cur + 1], state)
        rows.append(logits[0, -1])
    out["rolling"] = F.cross_entropy(torch.stack(rows), targets).item()
    # re-encode: `generate`'s window (learned positions' default, `--re-encode` for rotary)
    step, start = slide_step(limit), 0
    state = model.init_state(1, seg.device)
    logits, state = model(seg[None, :limit], state)
    rows = []
    for cur in range(limit + 1, n):  # tokens seg[:cur] are known; predict seg[cur]
        if cur - start > limit:
            start = cur - (limit + 1 - step)
            logits, state = model(seg[None, start:cur], model.init_state(1, seg.device))
        else:
            logits, state = model(seg[None, cur - 1 : cur], state)
        rows.append(logits[0, -1])
    out["re-encode"] = F.cross_entropy(torch.stack(rows), targets).item()
    return out


def loss_part(run: Path, segments: int, length: int) -> None:
    model, _, ckpt = load_model(run / "best.pt")
    if not isinstance(model, Transformer) or not model.rolls:
        sys.exit(f"{run} is not a rotary transformer (train one with --positions rotary)")
    val = np.asarray(open_dataset(ckpt.data.path).split("val"))
    limit = model.cfg.block_size
    if len(val) < length + 1 or length <= 2 * limit:
        sys.exit(f"need a val split of {length + 1}+ tokens and --length > 2 x {limit}")
    starts = np.linspace(0, len(val) - length - 1, segments).astype(int)
    per: dict[str, list[float]] = {"crop": [], "re-encode": [], "rolling": []}
    for s in starts:
        seg = torch.from_numpy(val[s : s + length].astype(np.int64))
        for k, v in losses_past_context(model, seg).items():
            per[k].append(v)
    print(f"{run}: context {limit}, {segments} val segments x {length} tokens, loss of the "
          f"{segments * (length - limit - 1):,} tokens past the first context")  # fmt: skip
    for k, v in per.items():
        d = np.array(v) - np.array(per["crop"])
        spread = f"{d.min():+.4f}..{d.max():+.4f}"
        print(f"  {k:10} mean {np.mean(v):.4f}   vs crop {np.mean(d):+.4f} (segments {spread})")


def _latencies(model: torch.nn.Module, tokens: int, rolling: bool) -> list[float]:
    stamps: list[float] = []
    t0 = time.perf_counter()
    generate(model, [0], 1, tokens, 1.0, None, None, torch.Generator().manual_seed(1), rolling=rolling,  # type: ignore[arg-type]
             on_token=lambda t, ids: stamps.append(time.perf_counter()))  # fmt: skip
    return np.diff([t0, *stamps]).tolist()


def latency_part(tokens: int, nanogpt: Path | None) -> None:
    torch.manual_seed(0)
    shape = {"vocab_size": 65, "block_size": 256, "n_layer": 6, "n_head": 6, "n_embd": 384}
    cfg = TransformerConfig(**shape, positions="rotary")
    model = Transformer(cfg).eval()
    _latencies(model, 300, True)  # warm-up
    rows = {mode: _latencies(model, tokens, mode == "rolling") for mode in ("rolling", "re-encode")}
    print(f"\none sample, 6 x 384, context 256, {tokens} new tokens: per-token ms, median [mean] per bin")
    print(f"{'tokens':>12} {'rolling':>16} {'re-encode':>16}")
    for lo in range(0, tokens, 256):
        bins = [r[lo : lo + 256] for r in rows.values()]
        cells = [f"{statistics.median(b) * 1e3:7.2f} [{statistics.mean(b) * 1e3:5.2f}]" for b in bins]
        print(f"{lo + 1:>5}-{min(lo + 256, tokens):<6} {cells[0]:>16} {cells[1]:>16}")
    past = {k: r[256:] for k, r in rows.items()}
    for k, r in past.items():
        bins = [statistics.mean(r[i : i + 256]) for i in range(0, len(r) - 255, 256)]
        print(f"{k}: {len(r) / sum(r):,.0f} tokens/s past the context; bin means {min(bins) * 1e3:.2f}.."
              f"{max(bins) * 1e3:.2f} ms (max/min {max(bins) / min(bins):.2f})")  # fmt: skip
    if nanogpt is not None:
        sys.path.insert(0, str(nanogpt))
        from model import GPT, GPTConfig  # nanoGPT's own model code, from the checkout given

        nano = GPT(GPTConfig(**shape, dropout=0.0)).eval()
        n_new = min(tokens, 1000)
        idx = torch.zeros((1, 1), dtype=torch.long)
        nano.generate(idx, 50)  # warm-up
        t0 = time.perf_counter()
        with torch.no_grad():
            nano.generate(idx, n_new)
        wall = time.perf_counter() - t0
        nano_rate = n_new / wall
        ours = {k: n_new / sum(r[:n_new]) for k, r in rows.items()}
        said = ", ".join(f"{k} {v:,.0f} ({v / nano_rate:.1f}x)" for k, v in ours.items())
        print(f"nanoGPT GPT.generate, {n_new} new tokens: {nano_rate:,.0f} tokens/s; seqgen {said}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, help="a rotary transformer's checkpoint directory (loss part)")
    ap.add_argument("--segments", type=int, default=20)
    ap.add_argument("--length", type=int, default=1024, help="tokens per val segment")
    ap.add_argument("--latency", action="store_true", help="per-token latency part")
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--nanogpt", type=Path, help="a karpathy/nanoGPT checkout, for its generate's speed")
    args = ap.parse_args()
    if args.run:
        loss_part(args.run, args.segments, args.length)
    if args.latency:
        latency_part(args.tokens, args.nanogpt)


if __name__ == "__main__":
    main()
