"""Classifier heads trained on extracted features: logistic regression or a small MLP.

Both are one torch module, ``Head``: standardise the features, then a linear layer (logistic)
or linear-ReLU-linear (mlp), giving logits over the labels. The logistic head is fitted by
scikit-learn and its coefficients copied in, so a saved head is only tensors (safetensors) and a
JSON description: nothing is pickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from tunesmith.config import FeaturesConfig
from tunesmith.errors import TunesmithError

#: Bias of a label the training data lacks: it is never predicted.
NEVER = -1e4


class Head(nn.Module):
    """Standardised features [n, dim] -> logits [n, labels]."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, dim: int, n_labels: int, hidden: int | None = None):
        super().__init__()
        self.dim, self.n_labels, self.hidden = dim, n_labels, hidden
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        if hidden is None:
            self.net: nn.Module = nn.Linear(dim, n_labels)
        else:
            self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, n_labels))
        self.hidden = hidden

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits for ``features`` [n, dim]."""
        return self.net((features - self.mean) / self.scale)


def fit_head(x: torch.Tensor, y: torch.Tensor, n_labels: int, cfg: FeaturesConfig, **mlp) -> Head:
    """A head for features ``x`` [n, dim] and label indices ``y`` [n], as ``cfg.head`` says.

    ``mlp`` holds ``batch_size`` and ``seed`` for the mlp head.
    """
    present = torch.unique(y)
    if len(present) < 2:
        raise TunesmithError(
            "method feature_extraction: the training split holds a single label; "
            "a classifier needs examples of at least two"
        )
    hidden = cfg.mlp_hidden if cfg.head == "mlp" else None
    head = Head(x.shape[1], n_labels, hidden)
    head.mean.copy_(x.mean(dim=0))
    head.scale.copy_(x.std(dim=0, unbiased=False).clamp(min=1e-6))
    if cfg.head == "logistic":
        _fit_logistic(head, x, y, present, cfg.c)
    else:
        _fit_mlp(head, x, y, cfg.mlp_epochs, cfg.mlp_learning_rate, **mlp)
    return head.eval()


def _fit_logistic(head: Head, x, y, present: torch.Tensor, c: float) -> None:
    from sklearn.linear_model import LogisticRegression

    standard = ((x - head.mean) / head.scale).double().numpy()
    model = LogisticRegression(C=c, max_iter=2000).fit(standard, y.numpy())
    coef = torch.as_tensor(model.coef_, dtype=torch.float32)
    bias = torch.as_tensor(model.intercept_, dtype=torch.float32)
    if len(present) == 2:
        # A binary model has one row w: p(second) = sigmoid(w.x + b). Rows -w/2 and +w/2 under
        # a softmax give exactly the same probabilities.
        coef, bias = torch.cat([-coef / 2, coef / 2]), torch.cat([-bias / 2, bias / 2])
    linear = head.net
    assert isinstance(linear, nn.Linear)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.fill_(NEVER)
        rows = torch.as_tensor(model.classes_, dtype=torch.long)
        linear.weight[rows] = coef
        linear.bias[rows] = bias


def _fit_mlp(head: Head, x, y, epochs: int, lr: float, *, batch_size: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # seeded initialisation without disturbing the global RNG
        torch.manual_seed(seed)
        for layer in head.net.modules():
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
    optimizer = torch.optim.AdamW(head.net.parameters(), lr=lr)
    head.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=generator).split(batch_size):
            loss = F.cross_entropy(head(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def head_loss(head: Head, x: torch.Tensor, y: torch.Tensor) -> float | None:
    """Mean cross-entropy (nats per example) of ``head`` on ``x``, ``y``; None when empty."""
    if len(y) == 0:
        return None
    with torch.no_grad():
        return float(F.cross_entropy(head(x), y))


def save_head(head: Head, directory: Path, description: dict) -> None:
    """``head.safetensors`` (tensors) and ``head.json`` (shape and ``description``)."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in head.state_dict().items()}
    save_file(tensors, directory / "head.safetensors")
    shape = {"dim": head.dim, "hidden": head.hidden, "labels_out": head.n_labels}
    text = json.dumps({**description, **shape}, indent=2)
    (directory / "head.json").write_text(text, encoding="utf-8")


def load_head(directory: Path) -> tuple[Head, dict]:
    """The head saved by ``save_head`` and its description."""
    path = directory / "head.json"
    if not path.is_file():
        raise TunesmithError(f"{directory}: no head.json; is this a feature_extraction run?")
    description = json.loads(path.read_text(encoding="utf-8"))
    head = Head(description["dim"], description["labels_out"], description["hidden"])
    head.load_state_dict(load_file(directory / "head.safetensors"))
    return head.eval(), description
