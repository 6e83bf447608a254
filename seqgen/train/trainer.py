"""One training loop for every model in the registry.

Owns: device and precision choice, the AdamW optimizer (weight decay on matrices only), the
warm-up + cosine learning-rate schedule over whichever budget (steps or minutes) ends first,
gradient clipping, periodic train/val evaluation, the metrics log, when to write checkpoints (the
`checkpoint` module decides how), exact resume (the data position and `runstate`'s counters and RNG
states travel in last.pt), stopping cleanly on SIGINT/SIGTERM, on a non-finite loss and on
`patience`. Knows the model only through its contract (`forward(idx) -> (logits, state)`), and
reports progress through a callback; it prints nothing.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from seqgen import __version__
from seqgen.config import TrainConfig, to_dict, train_toml
from seqgen.datasets.batches import BatchSampler
from seqgen.datasets.store import Dataset
from seqgen.device import autocast, resolve_compile, resolve_device, resolve_precision
from seqgen.errors import SeqgenError
from seqgen.files import atomic_write_text, remove_stale_temporaries, write_error
from seqgen.models import build_model, count_parameters
from seqgen.train.checkpoint import (
    BEST,
    CONFIG,
    CONFIG_TOML,
    LAST,
    METRICS,
    save_checkpoint,
    write_json_atomic,
)
from seqgen.train.distributed import Dist
from seqgen.train.optim import lr_at, make_optimizer
from seqgen.train.runstate import Counters, StopSignals, rng_state, run_lock, set_rng_state

Callback = Callable[[str, dict[str, Any]], None]


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    best_val_loss: float
    val_loss: float
    elapsed_s: float
    tokens_per_sec: float
    parameters: int
    stopped: str = "budget"  # budget | patience | SIGINT | SIGTERM
    resumed_from: int | None = None  # the step a resumed run continued from

    @property
    def exit_code(self) -> int:
        """0, or 128 + the signal number when a signal stopped the run (130 SIGINT, 143 SIGTERM)."""
        return 128 + int(getattr(signal, self.stopped)) if self.stopped.startswith("SIG") else 0


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        dataset: Dataset,
        model_cfg: Any,
        run_dir: Path,
        callback: Callback | None = None,
        resume: dict[str, Any] | None = None,
        dist: Dist | None = None,
    ):
        """`resume`: a loaded last.pt whose run (in `run_dir`) this trainer continues. `dist`: this
        process's place among the torchrun processes training one model (default: alone)."""
        self.cfg = cfg
        self.dataset = dataset
        self.model_cfg = model_cfg
        self.run_dir = Path(run_dir)
        self.callback = callback or (lambda kind, info: None)
        if dist is not None and not dist.main:
            self.callback = lambda kind, info: None  # rank 0 alone reports
        self.resume = resume
        self.dist = dist or Dist()
        self.device = resolve_device(cfg.device)
        if self.device.type == "cuda" and self.dist.active:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.amp_dtype = resolve_precision(cfg.precision, self.device)
        # Resolve the per-model defaults into the config, so the saved config is the run's own.
        cfg.learning_rate = self.lr = cfg.learning_rate or model_cfg.learning_rate
        cfg.batch_size = self.batch_size = cfg.batch_size or model_cfg.batch_size
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model, model_cfg).to(self.device)
        # DDP (several processes) and the compiled module share the model's parameters;
        # checkpoints always save `self.model`.
        self.ddp = None
        if self.dist.active:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.model, device_ids=ids)  # broadcasts rank 0's weights
        if self.dist.rank:  # dropout masks of its own on every other rank (rank 0: the seed's)
            torch.manual_seed(self.rank_seed(cfg.seed))
        self.compiled = resolve_compile(cfg.compile, self.device)
        wrapped = self.ddp or self.model
        self.forward = torch.compile(wrapped) if self.compiled else wrapped
        self.optimizer = make_optimizer(self.model, cfg, self.lr, self.device)
        self.block_size = model_cfg.block_size
        self.train_batches = BatchSampler(
            dataset.train, self.batch_size, self.block_size, self.rank_seed(cfg.seed), self.device
        )
        self.state = Counters()
        if resume is not None:
            self._restore(resume)

    def rank_seed(self, seed: int) -> int:
        """Each rank's own random stream, derived from the seed and the rank (rank 0: the seed, so
        a one-process run is unchanged)."""
        return seed + 1_000_003 * self.dist.rank

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.state = Counters(**ckpt["counters"])
        # Every rank's data position and random streams, when the run had this rank; a rank the
        # run did not have (resumed on more processes) starts fresh streams from seed, rank and step.
        positions = ckpt.get("data_positions") or [ckpt["data_position"]]
        rngs = ckpt.get("rngs") or [ckpt["rng"]]
        r = self.dist.rank
        if r < len(positions):
            set_rng_state(rngs[r])
            self.train_batches.set_state(positions[r])
        else:
            torch.manual_seed(self.rank_seed(self.cfg.seed) + self.state.step)
            self.train_batches.generator.manual_seed(self.rank_seed(self.cfg.seed) + self.state.step)

    # -- evaluation ---------------------------------------------------------------------------
    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.amp_dtype):
            logits, _ = self._forward(x)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))

    def _forward(self, x: torch.Tensor):
        if not self.compiled:
            return (self.ddp or self.model)(x)
        try:
            return self.forward(x)
        except Exception as e:
            self._raise_if_compile_failure(e)
            raise

    def _backward(self, loss: torch.Tensor) -> None:
        try:
            loss.backward()  # a compiled model compiles its backward graph at the first call
        except Exception as e:
            self._raise_if_compile_failure(e)
            raise

    def _raise_if_compile_failure(self, e: Exception) -> None:
        """Turn a torch.compile failure (an exception from dynamo or inductor) into one line that
        names the way out; any other exception (out of memory, a bad input) is left alone."""
        if not self.compiled or not type(e).__module__.startswith(("torch._dynamo", "torch._inductor")):
            return
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise SeqgenError(
            f"torch.compile failed on this machine ({type(e).__name__}: {first}); "
            "train without it: --compile off"
        ) from e

    @torch.no_grad()
    def evaluate(self, stop: StopSignals | None = None) -> dict[str, float] | None:
        """Mean loss over `eval_iters` batches per split, on the same windows at every evaluation.
        Returns None, unfinished, as soon as a stop signal is pending (a long evaluation must not
        delay the checkpoint a signal asks for)."""
        self.model.eval()
        if self.dist.active:
            stop = None  # ranks would see a signal at different batches; finish, then stop together
        out: dict[str, float] | None = {}
        try:
            for i, split in enumerate(("train", "val")):
                sampler = BatchSampler(
                    self.dataset.split(split),
                    self.batch_size,
                    self.block_size,
                    self.rank_seed(self.cfg.seed + 1 + i),
                    self.device,
                )
                losses = []
                for _ in range(self.cfg.eval_iters):
                    if stop is not None and stop.signum is not None:
                        return None
                    losses.append(self.loss(*sampler.next()))
                out[split] = self.dist.mean(torch.stack(losses).mean().item(), self.device)
        finally:
            self.model.train()
        return out

    # -- checkpoints --------------------------------------------------------------------------
    def payload(self) -> dict[str, Any]:
        s = self.state
        return {
            "seqgen_version": __version__,
            "model_type": self.cfg.model,
            "model_config": to_dict(self.model_cfg),
            "train_config": to_dict(self.cfg),
            "tokenizer": self.dataset.tokenizer.to_dict(),
            "data": {
                "name": self.dataset.name,
                "kind": self.dataset.kind,
                "path": str(self.dataset.path.resolve()),
            },
            "model": self.model.state_dict(),
            "step": s.step,
            "best_val_loss": s.best_val,
            "val_loss": s.val,
            "elapsed_s": s.elapsed_s,
            "tokens_seen": s.tokens,
        }

    def save_last(self, payload: dict[str, Any] | None = None) -> None:
        """last.pt with everything an exact resume needs. Weights that are no longer finite are
        never written: the previous last.pt stays the last good one. A `payload` passed in was
        built after the caller's own check."""
        if payload is None:
            self._check_finite()
        # Every rank's data position and random streams (collective: all ranks are here).
        positions = self.dist.gather(self._pending_batch_state)
        rngs = self.dist.gather(rng_state())
        self._last_save = (self.state.step, self.state.elapsed_s)
        if not self.dist.main:
            return
        if not self._config_written:
            self._write_config()
            self._config_written = True
        save_checkpoint(
            self.run_dir / LAST,
            {
                **(payload or self.payload()),
                "optimizer": self.optimizer.state_dict(),
                "counters": asdict(self.state),
                "rng": rngs[0],
                "data_position": positions[0],
                **({"rngs": rngs, "data_positions": positions} if self.dist.active else {}),
            },
        )

    def _check_finite(self, loss: float | None = None) -> None:
        if loss is not None and not math.isfinite(loss):
            what = f"the loss became {loss}"
        elif not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            what = "the weights became non-finite (inf or nan)"
        else:
            return
        lower = f"--learning-rate {self.lr / 3:.2g}"
        if (self.run_dir / LAST).is_file():
            todo = (
                f"{self.run_dir / LAST} keeps the last good state; lower the learning rate "
                f"(now {self.lr:g}) and go on: seqgen train --resume {self.run_dir}"
                f"{self._session_budget_flags()} {lower}"
            )
        else:
            todo = f"no checkpoint was written; start again with a lower learning rate, e.g. {lower}"
        raise SeqgenError(f"training diverged: {what} at step {self.state.step}; {todo}")

    def _session_budget_flags(self) -> str:
        """The budget this session was given, when it differs from the one last.pt records."""
        saved = (self.resume or {}).get("train_config", {})
        flags = ""
        for name in ("max_iters", "max_time"):
            value = getattr(self.cfg, name)
            if value is not None and value != saved.get(name, value):
                flags += f" --{name.replace('_', '-')} {value:g}"
        return flags

    def _write_config(self) -> None:
        write_json_atomic(
            self.run_dir / CONFIG,
            {
                "seqgen_version": __version__,
                "model_type": self.cfg.model,
                "model_config": to_dict(self.model_cfg),
                "train_config": to_dict(self.cfg),
                "data": self.dataset.meta.get("name"),
                "device": str(self.device),
                "precision": "bf16" if self.amp_dtype else "fp32",
                "compiled": self.compiled,
                "world_size": self.dist.world,
                "torch": torch.__version__,
            },
        )
        header = (
            f"seqgen {__version__}: the settings of {self.run_dir}.\n"
            f"Train the same again: seqgen train --config {self.run_dir / CONFIG_TOML} --run NEW_NAME"
        )
        atomic_write_text(self.run_dir / CONFIG_TOML, train_toml(self.cfg, self.model_cfg, header))

    def _make_run_dir(self) -> None:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise SeqgenError(f"{self.run_dir} already exists; pick another --run") from None
        except OSError as e:
            raise write_error(self.run_dir, e) from None

    def _open_run_dir(self) -> None:
        """With the run locked: tidy what a killed process left, then record the config."""
        if self.resume is not None:
            remove_stale_temporaries(self.run_dir)
            self._truncate_metrics(self.state.step)  # lines past last.pt: work the kill lost
            self._config_written = False  # rewritten at the first save, once the session counts
        else:
            self._write_config()
            self._config_written = True

    def _truncate_metrics(self, step: int) -> None:
        """Drop metrics lines past the resumed step (written after the checkpoint, then lost)."""
        path = self.run_dir / METRICS
        if not path.is_file():
            return
        keep = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if (
                    isinstance(record, dict)
                    and isinstance(record.get("step"), int)
                    and record["step"] <= step
                ):
                    keep.append(line)
        atomic_write_text(path, "".join(line + "\n" for line in keep))

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train until the budget, `patience` or a signal stops the run; returns how it ended."""
        if self.resume is not None and self._progress(self.state.elapsed_s) >= 1.0:
            s = self.state
            raise SeqgenError(
                f"{self.run_dir} already used its budget ({s.step} steps, {s.elapsed_s / 60:.1f} min); "
                "give a larger --max-iters or --max-time to train on"
            )
        if not self.dist.main:  # other ranks train and take part in every collective; rank 0 writes
            if self.dist.any_(False, self.device):
                raise SeqgenError("rank 0 could not set up the run directory (its error says why)")
            with StopSignals() as stop:
                return self._loop(stop)
        created = announced = False
        try:
            if self.resume is None:
                self._make_run_dir()
                created = True  # only now is the directory ours to remove if the run fails
            with run_lock(self.run_dir), StopSignals() as stop:
                self._open_run_dir()
                self.dist.any_(False, self.device)  # tell the other ranks the run is set up
                announced = True
                return self._loop(stop)
        except BaseException:
            if not announced:
                self.dist.any_(True, self.device)  # let the other ranks stop with us, not hang
            # A new run that fails before any checkpoint leaves no half-made run directory behind.
            if created and self.run_dir.is_dir() and not (self.run_dir / LAST).exists():
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    def _progress(self, elapsed: float) -> float:
        cfg = self.cfg
        return max(
            self.state.step / cfg.max_iters if cfg.max_iters else 0.0,
            elapsed / (cfg.max_time * 60) if cfg.max_time else 0.0,
        )

    def _loop(self, stop: StopSignals) -> TrainResult:
        cfg, s = self.cfg, self.state
        n_params = count_parameters(self.model)
        tokens_per_step = self.batch_size * self.train_batches.block_size * cfg.grad_accum * self.dist.world
        every_steps, every_s = cfg.checkpoint_interval
        resumed_from = s.step if self.resume is not None else None
        self.callback(
            "start",
            {
                "parameters": n_params,
                "device": str(self.device),
                "run_dir": str(self.run_dir),
                "precision": "bf16" if self.amp_dtype else "fp32",
                "compiled": self.compiled,
                "lr": self.lr,
                "tokens_per_step": tokens_per_step,
                "world_size": self.dist.world,
                "grad_accum": cfg.grad_accum,
                "batch_size": self.batch_size,
                "resumed_from": resumed_from,
                "progress": min(self._progress(s.elapsed_s), 1.0),
            },
        )
        # Rank 0 alone writes the metrics log (other ranks get a sink).
        metrics = open(self.run_dir / METRICS if self.dist.main else os.devnull, "a")  # noqa: SIM115
        self.model.train()
        stopped = "budget"
        session_start = time.perf_counter()
        self._last_save = (s.step, s.elapsed_s)
        self._pending_batch_state = self.train_batches.get_state()
        x, y = self.train_batches.next()
        # .item() syncs a GPU: not every step. Several processes compare the loss at every step
        # anyway (one small all-reduce), so that a divergence stops all of them together.
        check_every = 1 if self.device.type == "cpu" else 10
        accum = cfg.grad_accum
        agreed = s.elapsed_s  # with several processes: the elapsed time all ranks agreed on
        try:
            # The evaluation a signal skipped or cut short comes first, before any new step.
            outcome = self._evaluate_and_save(metrics, s.lr, stop) if s.eval_due else "saved"
            if outcome == "interrupted":
                stopped = signal.Signals(stop.signum or signal.SIGINT).name
            elif outcome == "patience":
                stopped = "patience"
            while stopped == "budget":
                # Several processes must use the same learning rate: the time they agreed on.
                elapsed = agreed if self.dist.active else s.elapsed_s + time.perf_counter() - session_start
                lr = lr_at(s.step, self._progress(elapsed), self.lr, cfg)
                for g in self.optimizer.param_groups:
                    g["lr"] = lr
                s.lr = lr
                t0 = time.perf_counter()
                self.optimizer.zero_grad(set_to_none=True)
                total = 0.0
                for micro in range(accum):
                    # DDP all-reduces gradients at the last micro-batch's backward only.
                    last = micro == accum - 1
                    sync = contextlib.nullcontext() if last or self.ddp is None else self.ddp.no_sync()
                    with sync:
                        loss = self.loss(x, y)
                        # Draw the next batch now (overlaps the host gather with device work);
                        # remember the sampler's state before the draw: the data position a
                        # checkpoint records.
                        self._pending_batch_state = self.train_batches.get_state()
                        x, y = self.train_batches.next()
                        self._backward(loss / accum if accum > 1 else loss)
                    total = total + loss.detach() if accum > 1 else loss
                loss = total / accum if accum > 1 else loss
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.optimizer.step()
                s.step += 1
                s.tokens += tokens_per_step
                now = time.perf_counter()
                s.train_s += now - t0
                elapsed = s.elapsed_s + now - session_start
                report_at = s.step % 10 == 0 or s.step == 1
                if report_at or s.step % check_every == 0:
                    loss_value = loss.item()
                if self.dist.active:
                    if not (report_at or s.step % check_every == 0):
                        loss_value = loss.item()  # compared across ranks at every step
                    # Several processes agree on the time, the signal and whether any loss became
                    # non-finite, so that all of them decide alike.
                    sig = stop.signum
                    bad = not math.isfinite(loss_value)
                    elapsed, flag, worst = self.dist.max_([elapsed, float(sig or 0), float(bad)], self.device)
                    agreed, sig = elapsed, (int(flag) or None)
                    if worst and not bad:
                        loss_value = float("nan")  # another rank diverged: stop here as well
                progress = self._progress(elapsed)
                done = progress >= 1.0
                report = report_at or done
                if report or s.step % check_every == 0:
                    if done and not report_at and not self.dist.active:
                        loss_value = loss.item()
                    self._check_finite(loss_value)
                if report:
                    self.callback(
                        "step",
                        {
                            "step": s.step,
                            "loss": loss_value,
                            "lr": lr,
                            "progress": min(progress, 1.0),
                            "tokens_per_sec": s.tokens / max(s.train_s, 1e-9),
                            "elapsed_s": elapsed,
                        },
                    )
                if not self.dist.active:
                    # Read the flag once per step: a signal that lands later is seen at the next
                    # step, never lost between two reads.
                    sig = stop.signum
                eval_now = s.step % cfg.eval_interval == 0 or done
                saved = False
                if eval_now and (sig is None or done):
                    s.elapsed_s, session_start = elapsed, now  # fold this session's time in
                    outcome = self._evaluate_and_save(metrics, lr, None if done else stop)
                    if outcome == "patience":
                        stopped = "patience"
                        break
                    saved = outcome == "saved"
                    sig = None if done else stop.signum
                    if self.dist.active and not done:
                        sig = int(self.dist.max_([float(sig or 0)], self.device)[0]) or None
                if eval_now and not saved:
                    s.eval_due = True  # skipped or cut short by a signal
                if not saved and (
                    sig is not None
                    or (every_steps and s.step - self._last_save[0] >= every_steps)
                    or (every_s and elapsed - self._last_save[1] >= every_s)
                ):
                    t = time.perf_counter()
                    # Several processes fold in the time they agreed on, so their next decisions
                    # about time-based checkpoints agree as well.
                    s.elapsed_s, session_start = (
                        (elapsed, now) if self.dist.active else (s.elapsed_s + t - session_start, t)
                    )
                    self.save_last()
                    self.callback("checkpoint", {"step": s.step, "path": str(self.run_dir / LAST)})
                if sig is not None:
                    stopped = signal.Signals(sig).name
                    break
                if done:
                    break
        finally:
            metrics.close()
            s.elapsed_s += time.perf_counter() - session_start
        result = TrainResult(
            self.run_dir,
            s.step,
            s.best_val,
            s.val,
            s.elapsed_s,
            s.tokens / max(s.train_s, 1e-9),
            n_params,
            stopped,
            resumed_from,
        )
        self.callback("end", asdict(result))
        return result

    def _evaluate_and_save(self, metrics: Any, lr: float, stop: StopSignals | None) -> str:
        """Evaluate, log, write best.pt (if better) and last.pt. Returns 'saved', 'patience' (saved,
        and patience has run out) or 'interrupted' (a signal cut the evaluation short; nothing
        was logged or saved)."""
        s = self.state
        losses = self.evaluate(stop)
        if losses is None:
            return "interrupted"
        s.val = losses["val"]
        if not math.isfinite(s.val):
            self._check_finite(s.val)
        improved = s.val < s.best_val
        s.eval_due = False
        if improved:
            s.best_val, s.best_step, s.evals_since_best = s.val, s.step, 0
        else:
            s.evals_since_best += 1
        record = {
            "step": s.step,
            "train_loss": round(losses["train"], 5),
            "val_loss": round(s.val, 5),
            "lr": lr,
            "tokens_per_sec": round(s.tokens / max(s.train_s, 1e-9), 1),
            "elapsed_s": round(s.elapsed_s, 2),
            "tokens_seen": s.tokens,
        }
        # Order matters for a kill between writes: the metrics line, then best.pt, then last.pt.
        # Until last.pt counts this evaluation, a resume starts before it, drops the metrics line
        # and evaluates again (the same numbers), rewriting best.pt.
        if self.dist.main:
            try:
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
            except OSError as e:
                raise write_error(self.run_dir / METRICS, e) from None
        self._check_finite()
        payload = self.payload()
        if improved and self.dist.main:
            save_checkpoint(self.run_dir / BEST, payload)
        self.save_last(payload)
        self.callback("eval", {**record, "best_val_loss": s.best_val, "improved": improved})
        out_of_patience = self.cfg.patience is not None and s.evals_since_best >= self.cfg.patience
        return "patience" if out_of_patience else "saved"
