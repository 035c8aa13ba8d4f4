"""Cross-entropy on target tokens only, without full-vocabulary logits at every position.

A 262k-token vocabulary makes logits the largest tensor of a step (batch 16 x 128 tokens x 262k
x 4 bytes = 2 GB, and as much again for their gradient). Only positions with a label need them:
the backbone's hidden states are gathered at those positions and multiplied by the output layer
in chunks, each chunk recomputed in backward instead of stored (activation checkpointing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from tunesmith.data.encode import IGNORE
from tunesmith.models.backbone import backbone_forward, unwrap

__all__ = ["hidden_states", "output_logits", "target_loss_sum", "unwrap"]


def hidden_states(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs):
    """Last hidden states [batch, seq, hidden] of the real tokens (final norm applied).

    Runs the backbone only, with the virtual tokens of prompt/prefix tuning where present.
    """
    hidden, _ = backbone_forward(model, input_ids, attention_mask, **kwargs)
    return hidden


def output_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """Logits (fp32) of the output layer for ``hidden`` [..., hidden], with any soft-capping."""
    lm = unwrap(model)
    logits = lm.get_output_embeddings()(hidden).float()
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def target_loss_sum(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, chunk: int
) -> tuple[torch.Tensor, int]:
    """(sum of next-token cross-entropy over target tokens, number of target tokens)."""
    hidden = hidden_states(model, input_ids, attention_mask)
    targets = labels[:, 1:]
    keep = targets != IGNORE
    picked = hidden[:, :-1][keep]  # [n_targets, hidden]
    wanted = targets[keep]
    if wanted.numel() <= chunk:  # one chunk: storing its logits is fine, skip the recompute
        return _chunk_loss(model, picked, wanted), int(wanted.numel())
    total = picked.new_zeros((), dtype=torch.float32)
    for start in range(0, wanted.numel(), chunk):
        h, y = picked[start : start + chunk], wanted[start : start + chunk]
        if torch.is_grad_enabled():
            total = total + checkpoint(_chunk_loss, model, h, y, use_reentrant=False)
        else:
            total = total + _chunk_loss(model, h, y)
    return total, int(wanted.numel())


def _chunk_loss(model, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output_logits(model, hidden), targets, reduction="sum")
