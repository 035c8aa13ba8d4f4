"""Heads on features: the logistic head reproduces scikit-learn's probabilities, both heads
survive a safetensors round trip unchanged, and a label missing from training is never predicted."""

from __future__ import annotations

import pytest
import torch

from tunesmith.config import FeaturesConfig
from tunesmith.errors import TunesmithError
from tunesmith.methods.heads import fit_head, head_loss, load_head, save_head


def blobs(n_labels: int, n: int = 90, dim: int = 6, seed: int = 0):
    """Gaussian clusters, one per label, with overlapping tails."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % n_labels
    centres = torch.randn(n_labels, dim, generator=gen) * 2
    return centres[y] + torch.randn(n, dim, generator=gen) * 1.5 + 10, y


@pytest.mark.parametrize("n_labels", [2, 3])
def test_logistic_head_matches_scikit_learn(n_labels):
    from sklearn.linear_model import LogisticRegression

    x, y = blobs(n_labels)
    head = fit_head(x, y, n_labels, FeaturesConfig(c=0.5))
    standard = ((x - x.mean(0)) / x.std(0, unbiased=False)).double().numpy()
    expected = LogisticRegression(C=0.5, max_iter=2000).fit(standard, y.numpy())
    with torch.no_grad():
        ours = torch.softmax(head(x), dim=-1).double().numpy()
    assert abs(ours - expected.predict_proba(standard)).max() < 1e-4


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_saved_head_reloads_to_identical_logits(kind, tmp_path):
    x, y = blobs(3)
    cfg = FeaturesConfig(head=kind, mlp_hidden=8, mlp_epochs=5)
    head = fit_head(x, y, 3, cfg, batch_size=16, seed=0)
    save_head(head, tmp_path, {"pooling": "last"})
    loaded, description = load_head(tmp_path)
    assert description["pooling"] == "last"
    with torch.no_grad():
        assert torch.equal(head(x), loaded(x))


def test_mlp_head_is_seeded_and_learns():
    x, y = blobs(2)
    cfg = FeaturesConfig(head="mlp", mlp_hidden=8, mlp_epochs=40)
    first = fit_head(x, y, 2, cfg, batch_size=16, seed=3)
    again = fit_head(x, y, 2, cfg, batch_size=16, seed=3)
    with torch.no_grad():
        assert torch.equal(first(x), again(x))
    loss = head_loss(first, x, y)
    assert loss is not None and loss < 0.4


def test_a_label_absent_from_training_is_never_predicted():
    x, y = blobs(2)
    head = fit_head(x, y * 2, 3, FeaturesConfig())  # labels 0 and 2 only, of three
    with torch.no_grad():
        assert 1 not in head(x).argmax(dim=-1).tolist()


def test_a_single_label_is_one_line_error():
    x, _ = blobs(2)
    with pytest.raises(TunesmithError, match="single label"):
        fit_head(x, torch.zeros(len(x), dtype=torch.long), 2, FeaturesConfig())
