"""Fine-tuning methods, one small module each, chosen by name from a registry.

A method is a plain module (no base class). Every method module provides:

  frozen_dtype(compute) -> torch.dtype                dtype to load the base weights in
  prepare(model, cfg) -> model                         mark what trains (and wrap, e.g. adapters);
                                                       every parameter that will *ever* train must
                                                       have requires_grad=True on return: the
                                                       optimizer and checkpoints take them from it
  save(model, tokenizer, directory)                    write the trained weights as safetensors
  load(location, directory, dtype, device) -> model    rebuild the tuned model from ``final/``

and may provide these hooks (left out = the behaviour in brackets):

  TASKS: tuple[str, ...]                               tasks it fits [every task]
  check(cfg) -> None                                   raise TunesmithError when this machine
                                                       can't run it, before anything loads [-]
  load_base(location, dtype, device, tokenizer, labels) -> model
                                                       the untouched base model [the causal LM]
  encode(examples, tokenizer, max_length, labels) -> list[Encoded]
                                                       training/validation items [encode_examples]
  loss(model, input_ids, attention_mask, labels, chunk) -> (summed loss, targets)
                                                       training and validation loss
                                                       [train.loss.target_loss_sum]
  label_scores(model, tokenizer, texts, labels, *, batch_size, max_length, device, dtype,
               on_batch) -> float tensor [texts, labels] of log-probabilities
                                                       classification [each label's tokens scored
                                                       by the LM, evaluate.classify]
  on_step(model, step, steps_per_epoch, cfg) -> dict | None
                                                       called before every optimizer step (also
                                                       the first after a resume); a dict returned
                                                       is logged with the step [-]
  merge(model) -> model                                adapters folded into plain weights [-]

Hooks are looked up with ``hook(name, hook_name)``; the call sites hold the defaults.

feature_extraction trains no weights of the model: the pipeline runs its ``fit`` (features, then
a head) in place of the training loop, and its loaded model scores labels itself.
"""

from __future__ import annotations

from types import ModuleType

from tunesmith.config import Config
from tunesmith.errors import TunesmithError
from tunesmith.methods import (
    cls_head,
    dora,
    feature_extraction,
    freeze,
    full,
    gradual_unfreeze,
    lora,
    prefix_tuning,
    prompt_tuning,
    qlora,
)

METHODS: dict[str, ModuleType] = {
    "lora": lora,
    "dora": dora,
    "qlora": qlora,
    "full": full,
    "freeze": freeze,
    "gradual_unfreeze": gradual_unfreeze,
    "prompt_tuning": prompt_tuning,
    "prefix_tuning": prefix_tuning,
    "cls_head": cls_head,
    "feature_extraction": feature_extraction,
}


def get_method(name: str) -> ModuleType:
    """The method module called ``name``."""
    if name not in METHODS:
        raise TunesmithError(f"method '{name}' is unknown; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


def hook(name: str, hook_name: str):
    """Method ``name``'s optional hook ``hook_name`` (see the module docstring), or None."""
    return getattr(get_method(name), hook_name, None)


def check_method(cfg: Config, task: str) -> None:
    """Fail before anything loads when the method doesn't fit ``task`` or this machine."""
    method = get_method(cfg.method)
    tasks = getattr(method, "TASKS", None)
    if tasks is not None and task not in tasks:
        raise TunesmithError(
            f"method: {cfg.method} works only for the {' / '.join(tasks)} task, this data is "
            f"a {task} task; choose another method (e.g. lora) or other data"
        )
    check = getattr(method, "check", None)
    if check is not None:
        check(cfg)


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = total = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total
