"""Two-stage training with accelerate, read top to bottom.

Stage 1 trains the adapters (and the built-in encoder) with the LLM frozen; stage 2 adds the
LoRA weights (or the whole LLM for presets without LoRA). Learning rates, steps and schedule
come from the preset's :class:`~llm2fx_lab.model.config.TrainConfig`. The loss is
``CE + ntl_coef * NTL`` (+ ``aux_coef * aux``, the auxiliary chain probe on the audio tokens,
when the preset sets it; validation then also reports the probe's module accuracy).

The same code runs on a CPU, one GPU or many (``accelerate launch -m llm2fx_lab.cli
train ...``: DDP by default; FSDP or DeepSpeed for the 4B preset through the files in
``llm2fx_lab/model/accelerate_configs/``, which are untested here), with gradient
accumulation and bf16 autocast on GPUs. Outputs in ``out``:

- ``config.json``, ``model.safetensors``, ``tokenizer/``: the model (updated at every save);
- ``state/``: optimizer, scheduler and RNG state (accelerate) plus ``progress.json``, for
  ``resume=True``;
- ``log.csv`` (and TensorBoard events in ``tb/`` if ``tensorboard`` is installed): step,
  stage, loss, CE, NTL, learning rate and validation CE/NTL.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.model.config import ModelConfig, preset
from llm2fx_lab.model.inputs import (
    Collator,
    Dialogue,
    GeneratedDialogues,
    LengthGroupedBatches,
    attach_features,
    corpus_texts,
    count_generated,
    encode,
    iter_generated_dir,
    read_dialogue_dir,
    text_only,
)
from llm2fx_lab.model.llm import N_MODULES, Llm2FxModel
from llm2fx_lab.model.tokenizer import load_tokenizer, train_tokenizer

log = logging.getLogger(__name__)

FIELDS = ("stage", "step", "loss", "ce", "ntl", "aux", "lr", "tokens_per_second", "val_loss", "val_ce", "val_ntl",
          "val_aux", "val_probe_accuracy")


class MetricsLog:
    """Appends rows to ``log.csv`` and, when available, TensorBoard."""

    def __init__(self, out: Path, enabled: bool = True):
        self.enabled = enabled
        self.path = out / "log.csv"
        self.tb = None
        if not enabled:
            return
        new = not self.path.exists()
        self.file = self.path.open("a", newline="")
        self.writer = csv.DictWriter(self.file, FIELDS)
        if new:
            self.writer.writeheader()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tb"))
        except ImportError:  # tensorboard is optional
            pass

    def write(self, row: dict[str, Any], global_step: int) -> None:
        if not self.enabled:
            return
        self.writer.writerow({k: row.get(k, "") for k in FIELDS})
        self.file.flush()
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("stage", "step") and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, global_step)

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            if self.tb is not None:
                self.tb.close()


def _schedule(name: str, optimizer, warmup: int, total: int):
    from transformers import get_scheduler

    if name not in ("cosine", "linear", "constant"):
        raise Llm2FxError(f"unknown schedule {name!r}; allowed: cosine, linear, constant")
    kind = "constant_with_warmup" if name == "constant" else name
    kwargs = {} if kind == "constant_with_warmup" else {"num_training_steps": total}
    return get_scheduler(kind, optimizer, num_warmup_steps=min(warmup, max(total - 1, 0)), **kwargs)


@torch.no_grad()
def evaluate(model, loader, accelerator) -> dict[str, float]:
    """Mean validation CE, NTL and loss over ``loader``."""
    model.eval()
    sums: dict[str, float] = {}
    n = 0
    with torch.no_grad():
        for batch in loader:
            out = model(**batch)
            vals = {"val_ce": out["ce"], "val_ntl": out["ntl"], "val_loss": out["loss"]}
            if "aux" in out:
                presence = batch["chain_targets"][:, :N_MODULES].to(out["probe"].device)
                vals.update(val_aux=out["aux"],
                            val_probe_accuracy=((out["probe"][:, :N_MODULES] > 0).float() == presence).float().mean())
            gathered = accelerator.gather_for_metrics(torch.stack(list(vals.values())).float().unsqueeze(0))
            for k, v in zip(vals, gathered.mean(0).tolist()):
                sums[k] = sums.get(k, 0.0) + v
            n += 1
    model.train()
    return {k: v / max(n, 1) for k, v in sums.items()}


def _progress_file(out: Path) -> Path:
    return out / "state" / "progress.json"


def _with_features(cfg: ModelConfig, dialogues, batch_size: int, progress: bool):
    """``dialogues`` carrying their cached encoder inputs (built-in encoder)."""
    if isinstance(dialogues, GeneratedDialogues):
        # streamed from the shards: keep the features, which are small, and not the audio
        return attach_features(cfg, dialogues, batch_size, progress, keep_audio=False, total=len(dialogues))
    if any(d.features is None for d in dialogues):
        return attach_features(cfg, dialogues, batch_size, progress)
    return dialogues


def _dataset(dialogues) -> Dataset | list[Dialogue]:
    """What a DataLoader indexes: a dataset as it is (its rows are read per batch), else a list."""
    return dialogues if isinstance(dialogues, Dataset) else list(dialogues)


def train(model, train_set: Sequence[Dialogue] | GeneratedDialogues, out: str | Path,
          val_set: Sequence[Dialogue] | GeneratedDialogues = (), stages: Sequence[int] = (1, 2),
          resume: bool = False, progress: bool = True, cache_features: bool = True) -> dict[str, Any]:
    """Run the stages on ``train_set``; save to ``out``. Returns the last metrics per stage.

    Parameters
    ----------
    model : Llm2FxModel
    train_set, val_set : sequence of Dialogue or GeneratedDialogues
        A :class:`~llm2fx_lab.model.inputs.GeneratedDialogues` is never read whole: token
        lengths come from its text columns and each batch decodes its own rows' audio.
    resume : bool
        Continue from ``out/state`` (the stage and step it reached) instead of starting over.
    cache_features : bool
        With the built-in encoder, compute each clip's parameter-free spectra once
        (:func:`~llm2fx_lab.model.inputs.attach_features`) rather than at every step.

    Batches group dialogues of similar token length (:class:`LengthGroupedBatches`).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    cfg: ModelConfig = model.cfg
    tc = cfg.train
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not train_set:
        raise Llm2FxError("train_set is empty")
    done = {"stage": 0, "step": 0}
    if resume:
        if not _progress_file(out).is_file():
            raise Llm2FxError(f"cannot resume: no {_progress_file(out)}")
        done = json.loads(_progress_file(out).read_text())
        model.load_weights(out / "model.safetensors")
    set_seed(tc.seed)
    if cache_features and cfg.encoder.kind == "builtin":
        train_set = _with_features(cfg, train_set, tc.batch_size, progress)
        if val_set:
            val_set = _with_features(cfg, val_set, tc.batch_size, progress)
    lengths = ([len(encode(d, model.tokenizer, cfg)["input_ids"]) for d in text_only(train_set)]
               if tc.group_by_length else [])
    use_bf16 = tc.bf16 and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    summary: dict[str, Any] = {}
    global_step = 0
    for stage in stages:
        total = tc.stage1_steps if stage == 1 else tc.stage2_steps
        if total <= 0 or (stage < done["stage"]) or (stage == done["stage"] and done["step"] >= total):
            global_step += max(total, 0)
            continue
        start = done["step"] if stage == done["stage"] else 0
        accelerator = Accelerator(gradient_accumulation_steps=tc.grad_accum,
                                  mixed_precision="bf16" if use_bf16 else "no")
        model.set_stage(stage)
        lr = tc.stage1_lr if stage == 1 else tc.stage2_lr
        optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=lr, weight_decay=tc.weight_decay)
        scheduler = _schedule(tc.schedule, optimizer, tc.warmup_steps, total)
        collate = Collator(model.tokenizer, cfg, tc.dry_mask_prob, seed=tc.seed + stage)
        if tc.group_by_length:
            loader = DataLoader(_dataset(train_set), collate_fn=collate,
                                batch_sampler=LengthGroupedBatches(lengths, tc.batch_size, tc.seed + stage))
        else:
            loader = DataLoader(_dataset(train_set), batch_size=tc.batch_size, shuffle=True, collate_fn=collate)
        val_loader = (DataLoader(_dataset(val_set), batch_size=tc.batch_size,
                                 collate_fn=Collator(model.tokenizer, cfg)) if val_set else None)
        wrapped, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
        if val_loader is not None:
            val_loader = accelerator.prepare(val_loader)
        if start:
            accelerator.load_state(str(out / "state"))
        metrics = MetricsLog(out, enabled=accelerator.is_main_process)
        bar = tqdm(total=total, initial=start, desc=f"stage {stage}", disable=not (progress and accelerator.is_main_process))
        step, tokens, t0 = start, 0, time.perf_counter()
        row: dict[str, Any] = {}
        wrapped.train()

        def save() -> None:
            accelerator.wait_for_everyone()
            accelerator.save_state(str(out / "state"))
            if accelerator.is_main_process:
                accelerator.unwrap_model(wrapped).save_pretrained(out)
                _progress_file(out).write_text(json.dumps({"stage": stage, "step": step}))

        while step < total:
            for batch in loader:
                with accelerator.accumulate(wrapped):
                    result = wrapped(**batch)
                    accelerator.backward(result["loss"])
                    tokens += int(batch["attention_mask"].sum())
                    if accelerator.sync_gradients and tc.max_grad_norm:
                        accelerator.clip_grad_norm_(model.trainable_parameters(), tc.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                if not accelerator.sync_gradients:
                    continue
                step += 1
                bar.update(1)
                loss = result["loss"].item()
                if not math.isfinite(loss):
                    raise Llm2FxError(f"stage {stage} step {step}: loss is {loss} (lower the learning rate)")
                row = {"stage": stage, "step": step, "loss": loss, "ce": result["ce"].item(),
                       "ntl": result["ntl"].item(), "lr": scheduler.get_last_lr()[0],
                       **({"aux": result["aux"].item()} if "aux" in result else {}),
                       "tokens_per_second": tokens / (time.perf_counter() - t0)}
                if val_loader is not None and (step % tc.eval_every == 0 or step == total):
                    row.update(evaluate(wrapped, val_loader, accelerator))
                if step % tc.log_every == 0 or step == total:
                    metrics.write(row, global_step + step)
                bar.set_postfix(loss=f"{loss:.3f}", ntl=f"{row['ntl']:.3f}")
                if step % tc.save_every == 0 and step < total:
                    save()
                if step >= total:
                    break
        save()
        bar.close()
        metrics.close()
        summary[f"stage{stage}"] = row
        global_step += total
        model = accelerator.unwrap_model(wrapped)
        accelerator.free_memory()
    return summary


def train_from_dir(preset_name: str, data_dir: str | Path, out: str | Path, resume: bool = False,
                   progress: bool = True, **overrides: Any) -> dict[str, Any]:
    """The CLI's ``train``: read ``data_dir``, build tokenizer and model, train.

    ``data_dir`` holds ``dialogues.jsonl`` (read whole) or a folder written by ``llm2fx data
    generate``: with the built-in encoder each clip's encoder inputs are cached while reading
    and its audio dropped; with another encoder the audio is streamed from the shards
    (:class:`~llm2fx_lab.model.inputs.GeneratedDialogues`), a batch at a time.
    """
    cfg = preset(preset_name, **overrides)
    out = Path(out)
    data_dir = Path(data_dir)
    generated = not (data_dir / "dialogues.jsonl").is_file() and (data_dir / "manifest.json").is_file()
    if generated and cfg.encoder.kind == "builtin":
        # Thousands of 10 s pairs do not fit in memory: cache each clip's encoder inputs
        # while reading and keep only those.
        def read(split: str) -> list:
            return attach_features(cfg, iter_generated_dir(data_dir, cfg, split), cfg.train.batch_size,
                                   progress, keep_audio=False, total=count_generated(data_dir, split))

        train_set, val_set = read("train"), read("val")
        if not train_set:
            raise Llm2FxError(f"{data_dir} holds no train examples")
    elif generated:
        train_set, val_set = GeneratedDialogues(data_dir, cfg, "train"), GeneratedDialogues(data_dir, cfg, "val")
        if not len(train_set):
            raise Llm2FxError(f"{data_dir} holds no train examples")
    else:
        train_set = read_dialogue_dir(data_dir, cfg, "train")
        val_set = read_dialogue_dir(data_dir, cfg, "val")
    if cfg.llm.path:
        tokenizer = load_tokenizer(cfg.llm.path)
    elif resume and (out / "tokenizer").is_dir():
        tokenizer = load_tokenizer(out / "tokenizer")
    else:
        tokenizer = train_tokenizer(corpus_texts(train_set, cfg), cfg.tokenizer_vocab_size)
    torch.manual_seed(cfg.train.seed)
    model = Llm2FxModel(cfg, tokenizer)
    log.info("model %s: %d parameters", cfg.name, sum(p.numel() for p in model.parameters()))
    return train(model, train_set, out, val_set, resume=resume, progress=progress)
