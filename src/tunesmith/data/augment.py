"""More training examples, made from the training split only: word operations and paraphrases.

Only the prompt side of an example changes (classification and text: the text; instruction:
the instruction and input; chat: the user turns); labels and target answers stay as written, so
the model never learns from a corrupted answer. Validation and test are never augmented, and a
new example that repeats a training example or (nearly) a held-out one is dropped.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import torch

from tunesmith.config import AugmentConfig, Config
from tunesmith.data.dedupe import leaks
from tunesmith.data.encode import prompt_ids
from tunesmith.data.examples import Example, Message, Splits
from tunesmith.data.preprocess import log_step
from tunesmith.data.templates import generation_prompt
from tunesmith.errors import TunesmithError
from tunesmith.train.monitor import progress_bar

PARAPHRASE_REQUEST = (
    "Rewrite the following text in other words, keeping its meaning. "
    "Reply with the rewritten text only.\n\n"
)


def augment_train(splits: Splits, cfg: Config, model=None, tokenizer=None) -> None:
    """Add ``data.augment.copies`` word-operation copies and ``paraphrases`` model paraphrases
    of each training example to ``splits.train``; counts go to ``splits.steps``.

    ``model`` and ``tokenizer`` are needed only for paraphrases. Seeded by ``train.seed``.
    """
    aug, seed = cfg.data.augment, cfg.train.seed
    originals = list(splits.train)
    if aug.copies:
        made = word_copies(originals, aug, seed)
        _accept(splits, made, cfg, "augment_words")
    if aug.paraphrases:
        if model is None or tokenizer is None:
            raise TunesmithError(
                "data.augment.paraphrases needs the model to write paraphrases; "
                "set it to 0 or run where the model is loaded"
            )
        made = paraphrase_examples(originals, model, tokenizer, aug, seed, cfg.train.max_length)
        _accept(splits, made, cfg, "augment_paraphrase")


def word_copies(examples: list[Example], cfg: AugmentConfig, seed: int) -> list[Example]:
    """``cfg.copies`` copies of each example with words deleted, swapped and inserted."""
    rng = random.Random(seed)
    return [
        _with_prompt_texts(e, [perturb_words(t, rng, cfg) for t in prompt_texts(e)], f"words{k}")
        for e in examples
        for k in range(1, cfg.copies + 1)
    ]


def perturb_words(text: str, rng: random.Random, cfg: AugmentConfig) -> str:
    """``text`` with random deletions, swaps and insertions at the configured rates.

    Insertions repeat one of the text's own words: there is no synonym list to draw from.
    """
    words = text.split()
    if len(words) < 2:
        return text
    if cfg.delete_rate:
        words = [w for w in words if rng.random() >= cfg.delete_rate] or [rng.choice(words)]
    for _ in range(_times(len(words), cfg.swap_rate)):
        i, j = rng.randrange(len(words)), rng.randrange(len(words))
        words[i], words[j] = words[j], words[i]
    for _ in range(_times(len(words), cfg.insert_rate)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(words))
    return " ".join(words)


def paraphrase_examples(
    examples: list[Example], model, tokenizer, cfg: AugmentConfig, seed: int, prompt_budget: int
) -> list[Example]:
    """``cfg.paraphrases`` paraphrased copies of each example (fewer where the model wrote
    nothing)."""
    texts = [prompt_texts(e) for e in examples]
    flat = [t for group in texts for t in group]
    written = paraphrase(
        flat, model, tokenizer, cfg.paraphrases, seed=seed,
        max_new_tokens=cfg.paraphrase_max_new_tokens, temperature=cfg.paraphrase_temperature,
        prompt_budget=prompt_budget,
    )  # fmt: skip
    out, position = [], 0
    for example, group in zip(examples, texts, strict=True):
        mine = written[position : position + len(group)]
        position += len(group)
        for k in range(cfg.paraphrases):
            new = [options[k] for options in mine]
            if all(new):
                out.append(_with_prompt_texts(example, new, f"paraphrase{k + 1}"))
    return out


@torch.no_grad()
def paraphrase(
    texts: list[str],
    model,
    tokenizer,
    n: int,
    *,
    seed: int,
    max_new_tokens: int = 64,
    temperature: float = 0.8,
    prompt_budget: int = 256,
    batch_size: int = 8,
) -> list[list[str]]:
    """``n`` sampled paraphrases of each text, written by ``model``; "" where it wrote nothing.

    Seeded: the same texts, model and seed give the same paraphrases on the same device.
    """
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    flat: list[str] = []
    with progress_bar() as bar:
        task = bar.add_task("paraphrase", total=len(texts), info=f"x{n}")
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            ids = [prompt_ids(_request(t, tokenizer), tokenizer, prompt_budget) for t in batch]
            input_ids, mask = _left_pad(ids, tokenizer.pad_token_id, device)
            generated = model.generate(
                input_ids=input_ids, attention_mask=mask, do_sample=True,
                temperature=temperature, top_p=0.95, max_new_tokens=max_new_tokens,
                num_return_sequences=n, pad_token_id=tokenizer.pad_token_id,
            )  # fmt: skip
            replies = tokenizer.batch_decode(
                generated[:, input_ids.shape[1] :], skip_special_tokens=True
            )
            flat.extend(_first_paragraph(r) for r in replies)
            bar.update(task, advance=len(batch))
    return [flat[i * n : (i + 1) * n] for i in range(len(texts))]


def prompt_texts(example: Example) -> list[str]:
    """The texts augmentation may rewrite: the prompt side only, never a label or answer."""
    if example.messages is not None:
        return [m.content for m in example.messages if m.role == "user"]
    if example.task == "instruction":
        return [example.instruction or ""] + ([example.input] if example.input else [])
    return [example.text or ""]


def _with_prompt_texts(example: Example, texts: list[str], tag: str) -> Example:
    """``example`` with its prompt texts replaced, in ``prompt_texts`` order."""
    source = f"{example.source}#{tag}"
    if example.messages is not None:
        queue = iter(texts)
        messages = tuple(
            Message(m.role, next(queue)) if m.role == "user" else m for m in example.messages
        )
        return dataclasses.replace(example, messages=messages, source=source)
    if example.task == "instruction":
        extra: dict[str, Any] = {"input": texts[1]} if example.input else {}
        return dataclasses.replace(example, instruction=texts[0], source=source, **extra)
    return dataclasses.replace(example, text=texts[0], source=source)


def _accept(splits: Splits, made: list[Example], cfg: Config, step: str) -> None:
    """Append the new examples that repeat nothing in train and leak into no held-out split."""
    seen = {e.key() for e in splits.train}
    fresh = []
    for example in made:
        if example.key() not in seen:
            seen.add(example.key())
            fresh.append(example)
    leaked = 0
    if cfg.data.preprocess.remove_leakage:
        found = leaks(fresh, splits.validation + splits.test, cfg.data.preprocess.near_threshold)
        leaked = sum(bool(why) for why in found)
        fresh = [e for e, why in zip(fresh, found, strict=True) if not why]
    before = len(splits.train)
    splits.train = splits.train + fresh
    detail = {"made": len(made), "duplicates": len(made) - len(fresh) - leaked, "leaks": leaked}
    log_step(splits.steps, step, "train", before, len(splits.train), **detail)


def _times(n_words: int, rate: float) -> int:
    """How many operations ``rate`` asks for on ``n_words`` words: at least one when on."""
    return 0 if rate == 0 else max(1, round(rate * n_words))


def _request(text: str, tokenizer) -> str:
    return generation_prompt([Message("user", PARAPHRASE_REQUEST + text)], tokenizer)


def _left_pad(
    ids: list[list[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and attention mask: generation continues right after each prompt."""
    width = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return input_ids.to(device), mask.to(device)


def _first_paragraph(reply: str) -> str:
    """The paraphrase proper: models often go on with another turn or a second paragraph."""
    return reply.split("###", 1)[0].strip().split("\n\n", 1)[0].strip()
