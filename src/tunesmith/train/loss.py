"""Cross-entropy on target tokens only, without full-vocabulary logits at every position.

A 262k-token vocabulary makes logits the largest tensor of a step (batch 16 x 128 tokens x 262k
x 4 bytes = 2 GB, and as much again for their gradient). Only positions with a label need them:
the backbone's hidden states are gathered at those positions and multiplied by the output layer
in chunks. While training, each chunk's gradient is worked out right away in the forward pass
(softmax minus one-hot, times the output weight) and only the small [tokens, hidden] gradient is
kept: the output layer's two big matmuls run once each, and no chunk's logits outlive the chunk.

When the output layer is frozen (LoRA and most methods) a chunk goes through the vocabulary in
blocks with an online softmax, as flash attention does over keys: a block's logits stay in cache
and the weight is read from memory once. ``grad_filter`` then skips, in the gradient matmul, the
vocabulary entries whose probability is below it at every position of the chunk (the "gradient
filtering" of Cut Cross-Entropy, Wijmans et al. 2024): the loss stays exact and the gradient of
the hidden states moves by about the probability mass left out (~0.3% at 2^-16).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from tunesmith.data.encode import IGNORE
from tunesmith.models.backbone import backbone_forward, unwrap

__all__ = ["LossFn", "hidden_states", "output_logits", "target_loss_sum", "unwrap"]

LossSum = tuple[torch.Tensor, int]
#: What the loop and evaluation call: (model, chunk=..., input_ids=, attention_mask=, labels=)
#: -> (loss sum, target count); ``target_loss_sum`` or a method's own ``loss`` hook.
LossFn = Callable[..., LossSum]


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
    cap = _softcap(lm)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def target_loss_sum(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    chunk: int,
    grad_filter: float = 0.0,
) -> LossSum:
    """(sum of next-token cross-entropy over target tokens, number of target tokens).

    ``grad_filter`` > 0 trades exactness of the hidden states' gradient for speed (see above).
    """
    hidden = hidden_states(model, input_ids, attention_mask)
    targets = labels[:, 1:]
    keep = targets != IGNORE
    picked = hidden[:, :-1][keep]  # [n_targets, hidden]
    wanted = targets[keep]
    head = unwrap(model).get_output_embeddings()
    if torch.is_grad_enabled() and _plain_linear(head):
        cap = _softcap(unwrap(model))
        loss = _FusedLinearCrossEntropy.apply(picked, head.weight, wanted, chunk, cap, grad_filter)
        return loss, int(wanted.numel())
    return _chunked_loss(model, picked, wanted, chunk), int(wanted.numel())


def _chunked_loss(model, picked: torch.Tensor, wanted: torch.Tensor, chunk: int) -> torch.Tensor:
    """The general path for any output layer (one with adapters too): recompute in backward."""
    total = picked.new_zeros((), dtype=torch.float32)
    for start in range(0, wanted.numel(), chunk):
        h, y = picked[start : start + chunk], wanted[start : start + chunk]
        if torch.is_grad_enabled() and wanted.numel() > chunk:
            total = total + checkpoint(_chunk_loss, model, h, y, use_reentrant=False)
        else:
            total = total + _chunk_loss(model, h, y)
    return total


def _chunk_loss(model, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output_logits(model, hidden), targets, reduction="sum")


def _plain_linear(head) -> bool:
    """An output layer the fused path can take: a bias-free nn.Linear (not wrapped by peft)."""
    return type(head) is torch.nn.Linear and head.bias is None


def _softcap(lm) -> float | None:
    return getattr(lm.config, "final_logit_softcapping", None) or None


class _FusedLinearCrossEntropy(torch.autograd.Function):
    """sum CE(hidden @ weight.T, targets), with both gradients computed chunk by chunk in forward.

    The gradient of the summed loss w.r.t. a chunk's logits is softmax(logits) - onehot(target)
    (times the soft-cap's tanh derivative); from it come d hidden = g @ weight and, only when the
    output weight trains (full fine-tuning), d weight += g.T @ hidden.
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk: int, cap: float | None, grad_filter: float):
        """hidden [n, h], weight [vocab, h], targets [n] -> scalar fp32 loss sum."""
        with torch.no_grad():
            total = hidden.new_zeros((), dtype=torch.float32)
            grad_hidden = torch.empty_like(hidden)
            grad_weight = torch.zeros_like(weight) if weight.requires_grad else None
            if grad_weight is None:  # memory is per vocabulary block: take more positions
                chunk = max(chunk, ONLINE_CHUNK)
            for start in range(0, targets.numel(), chunk):
                h = hidden[start : start + chunk].to(weight.dtype)  # never copy the big weight
                y = targets[start : start + chunk]
                if grad_weight is None:
                    loss, grad_h = _online_loss_and_grad(h, weight, y, cap, grad_filter)
                else:  # the weight's gradient needs every normalised probability at once
                    loss, grad_logits = _chunk_loss_and_grad(h @ weight.t(), y, cap)
                    grad_logits = grad_logits.to(weight.dtype)
                    grad_h = grad_logits @ weight
                    grad_weight.addmm_(grad_logits.t(), h)
                total += loss
                grad_hidden[start : start + chunk] = grad_h
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_grad = grad_weight is not None
        return total

    @staticmethod
    def backward(ctx, grad_output):
        """Scale the gradients worked out in forward by the upstream gradient of the sum."""
        grad_hidden, grad_weight = ctx.saved_tensors
        grad_w = grad_weight * grad_output if ctx.weight_grad else None
        return grad_hidden * grad_output, grad_w, None, None, None, None


#: Vocabulary rows per block of the online softmax: a block's fp32 logits (8 MB for 1,024
#: positions) stay in the last-level cache. Of 2,048 to 32,768 rows, 2,048 was fastest on this
#: project's 2-core AVX2 CPU: smaller blocks add per-block overhead, bigger ones spill to memory.
VOCAB_BLOCK = 2048
#: Positions per pass of the online softmax over the weight: each pass reads the whole output
#: weight (671 MB in fp32 for 262k x 640), so fewer, bigger passes are faster.
ONLINE_CHUNK = 1024


def _online_loss_and_grad(h, weight, targets, cap: float | None, grad_filter: float):
    """(summed cross-entropy, its gradient w.r.t. ``h``) for one chunk, one vocabulary block at a
    time: a running max ``top`` and sum ``total`` of exp(logit - top), and ``acc``, the running
    sum of exp(logit - top) x (soft-cap derivative) x weight row, rescaled when ``top`` grows.

    The estimate exp(logit - top) / total of a probability only falls as blocks are added, so
    filtering on it never drops an entry that the final softmax would keep.
    """
    n = targets.numel()
    top = h.new_full((n, 1), -torch.inf, dtype=torch.float32)
    total = h.new_zeros((n, 1), dtype=torch.float32)
    acc = h.new_zeros((n, weight.shape[1]), dtype=torch.float32)
    picked = h.new_zeros(n, dtype=torch.float32)
    for start in range(0, weight.shape[0], VOCAB_BLOCK):
        block = weight[start : start + VOCAB_BLOCK]
        logits = (h @ block.t()).float()
        slope = None
        if cap:
            logits = torch.tanh(logits.div_(cap))
            slope = 1 - logits.square()  # d capped / d raw
            logits.mul_(cap)
        here = ((targets >= start) & (targets < start + block.shape[0])).nonzero()[:, 0]
        picked[here] = logits[here, targets[here] - start]
        new_top = torch.maximum(top, logits.amax(dim=-1, keepdim=True))
        rescale = (top - new_top).exp_()
        weights = logits.sub_(new_top).exp_()  # the logits are not needed any more
        total.mul_(rescale).add_(weights.sum(dim=-1, keepdim=True))
        acc.mul_(rescale)
        if slope is not None:
            weights.mul_(slope)
        if grad_filter > 0:
            keep = (weights > grad_filter * total).any(dim=0)
            weights, block = weights[:, keep], block[keep]
        acc.add_(weights.to(block.dtype) @ block)  # bf16 weights: a bf16 matmul, fp32 sums
        top = new_top
    loss = (top[:, 0] + total[:, 0].log() - picked).sum()
    target_rows = weight[targets].float()
    if cap:
        target_rows.mul_((1 - (picked / cap).square())[:, None])
    return loss, (acc / total - target_rows).to(h.dtype)


def _chunk_loss_and_grad(logits: torch.Tensor, targets: torch.Tensor, cap: float | None):
    """(summed cross-entropy, its gradient w.r.t. the raw logits) for one chunk, in fp32.

    One exp over the chunk serves both the log-sum-exp and the softmax, all in place: over a
    262k vocabulary these element-wise passes cost about as much as a matmul.
    """
    logits = logits.float()
    if cap:
        capped = torch.tanh(logits / cap)
        logits = capped * cap
    picked = logits.gather(1, targets[:, None])
    top = logits.amax(dim=-1, keepdim=True)
    grad = logits.sub_(top).exp_()  # the logits are not needed any more
    total = grad.sum(dim=-1, keepdim=True)
    loss = (top + total.log() - picked).sum()
    grad.div_(total)  # softmax
    grad.scatter_add_(1, targets[:, None], grad.new_full((targets.numel(), 1), -1.0))
    if cap:
        grad.mul_(1 - capped.square_())
    return loss, grad
