"""Classify with a generative model: score every allowed label by its log-likelihood.

Each prompt runs through the model once; its key/value cache is then repeated for every label
and only the label tokens run again. Logits are computed only where a label token is predicted,
never over the full sequence, so a 262k-token vocabulary costs megabytes, not gigabytes.
"""

from __future__ import annotations

import torch

from tunesmith.data.encode import prompt_ids
from tunesmith.data.templates import label_target
from tunesmith.models.backbone import backbone_forward
from tunesmith.models.load import compute_context
from tunesmith.train.loss import output_logits


@torch.no_grad()
def label_scores(
    model,
    tokenizer,
    prompts: list[str],
    labels: list[str],
    *,
    batch_size: int,
    max_length: int,
    device: torch.device,
    dtype: torch.dtype,
    on_batch=None,
) -> torch.Tensor:
    """Log-likelihood of each label after each prompt: float tensor [prompts, labels]."""
    was_training = model.training
    model.eval()
    label_ids = [
        tokenizer(label_target(label, tokenizer), add_special_tokens=False)["input_ids"]
        for label in labels
    ]
    budget = max_length - max(len(ids) for ids in label_ids)
    rows = []
    for start in range(0, len(prompts), batch_size):
        batch = [prompt_ids(p, tokenizer, budget) for p in prompts[start : start + batch_size]]
        with compute_context(device, dtype):
            rows.append(_score_batch(model, batch, label_ids, tokenizer.pad_token_id, device))
        if on_batch:
            on_batch(len(batch))
    model.train(was_training)
    return torch.cat(rows) if rows else torch.empty(0, len(labels))


def _score_batch(model, prompts: list[list[int]], label_ids: list[list[int]], pad_id, device):
    n_labels, width = len(label_ids), max(len(p) for p in prompts)
    # Left padding puts every prompt's last token in the last column.
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p) :] = torch.tensor(p)
        mask[row, width - len(p) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    hidden, cache = backbone_forward(model, ids, mask, positions, use_cache=True)
    first = torch.log_softmax(output_logits(model, hidden[:, -1]), dim=-1)
    first_ids = torch.tensor([ids_[0] for ids_ in label_ids], device=device)
    scores = first[:, first_ids]  # [batch, labels]
    longest = max(len(x) for x in label_ids)
    if longest > 1:
        scores = scores + _continuation_scores(
            model, cache, mask, positions, label_ids, longest, pad_id
        ).view(len(prompts), n_labels)
    return scores.float().cpu()


#: Rows of full-vocabulary logits alive at once while scoring (64 x 262k fp32 = 64 MiB).
SCORE_CHUNK = 64


def token_log_probs(model, hidden: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log p(token) for each row of ``hidden`` [n, hidden], chunked so logits stay small."""
    out = []
    for start in range(0, hidden.shape[0], SCORE_CHUNK):
        logits = output_logits(model, hidden[start : start + SCORE_CHUNK])
        wanted = logits.gather(1, tokens[start : start + SCORE_CHUNK].unsqueeze(1)).squeeze(1)
        out.append(wanted - torch.logsumexp(logits, dim=-1))
    return torch.cat(out) if out else hidden.new_zeros(0, dtype=torch.float32)


def _continuation_scores(model, cache, mask, positions, label_ids, longest, pad_id):
    """Log-likelihood of label tokens 2..n for every (prompt, label) pair, as a flat vector."""
    device = mask.device
    n_labels = len(label_ids)
    inputs = torch.full((n_labels, longest - 1), pad_id, dtype=torch.long)
    targets = torch.full((n_labels, longest - 1), -1, dtype=torch.long)
    for row, ids_ in enumerate(label_ids):
        inputs[row, : len(ids_) - 1] = torch.tensor(ids_[:-1])
        targets[row, : len(ids_) - 1] = torch.tensor(ids_[1:])
    batch = mask.shape[0]
    inputs = inputs.repeat(batch, 1).to(device)  # row b * n_labels + l
    targets = targets.repeat(batch, 1).to(device)
    cont_mask = (targets >= 0).long()
    cache.batch_repeat_interleave(n_labels)
    full_mask = torch.cat([mask.repeat_interleave(n_labels, 0), cont_mask], dim=1)
    steps = torch.arange(1, longest, device=device)
    cont_pos = positions[:, -1:].repeat_interleave(n_labels, 0) + steps
    hidden, _ = backbone_forward(model, inputs, full_mask, cont_pos, cache=cache, use_cache=True)
    keep = targets >= 0
    picked = token_log_probs(model, hidden[keep], targets[keep])
    per_pair = torch.zeros(keep.shape, dtype=picked.dtype, device=device)
    per_pair[keep] = picked
    return per_pair.sum(dim=1)
