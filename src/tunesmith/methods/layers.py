"""A decoder model seen as layers: embeddings, transformer blocks (bottom to top), final norm, head.

Shared by ``freeze``, ``gradual_unfreeze`` and layer-wise learning-rate decay. The block list is
found generically, as the decoder's ModuleList with one entry per hidden layer: GPT-2 calls it
``transformer.h``, Llama / Gemma ``model.layers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from tunesmith.errors import TunesmithError
from tunesmith.train.loss import unwrap

Named = dict[str, nn.Parameter]


@dataclass
class Layers:
    """Parameters by name, grouped by where they sit in the network."""

    embeddings: Named  # token (and position) embedding tables
    blocks: list[Named]  # transformer blocks, bottom first
    norm: Named  # the rest of the decoder: the final norm
    head: Named  # the output layer where not tied to the embeddings, any task head


def find_layers(model) -> Layers:
    """Group ``model``'s parameters (names as ``model.named_parameters()`` gives them)."""
    base = unwrap(model)
    decoder = base.get_decoder()
    block_list = _block_list(decoder, base.config)
    names = {id(p): n for n, p in model.named_parameters()}  # tied weights appear once

    def named(module: nn.Module) -> Named:
        return {names[id(p)]: p for p in module.parameters() if id(p) in names}

    embeddings: Named = {}
    for module in decoder.modules():
        if isinstance(module, nn.Embedding):
            embeddings.update(named(module))
    blocks = [named(block) for block in block_list]
    placed = set(embeddings).union(*blocks)
    norm = {n: p for n, p in named(decoder).items() if n not in placed}
    placed |= set(norm)
    head = {n: p for n, p in model.named_parameters() if n not in placed}
    return Layers(embeddings, blocks, norm, head)


def _block_list(decoder: nn.Module, config) -> nn.ModuleList:
    depth = config.get_text_config().num_hidden_layers
    for module in decoder.modules():
        if isinstance(module, nn.ModuleList) and len(module) == depth:
            return module
    raise TunesmithError(
        f"model: found no list of {depth} transformer blocks in {type(decoder).__name__}; "
        "this method needs a decoder with one module per layer (use lora or full instead)"
    )


def set_trainable(model, layers: Layers, top_blocks: int, cfg_layers) -> None:
    """Train the ``top_blocks`` highest blocks and the parts the ``layers.train_*`` flags name.

    Embeddings train (with ``train_embeddings``) only once every block does: they sit below
    the lowest block. ``train_head`` wins over a frozen embedding table tied to the head.
    """
    for p in model.parameters():
        p.requires_grad_(False)
    n = len(layers.blocks)
    for block in layers.blocks[n - min(top_blocks, n) :]:
        _enable(block)
    if cfg_layers.train_embeddings and top_blocks >= n:
        _enable(layers.embeddings)
    if cfg_layers.train_norm:
        _enable(layers.norm)
    if cfg_layers.train_head:
        _enable(layers.head)
        output = unwrap(model).get_output_embeddings()
        if output is not None:
            output.weight.requires_grad_(True)


def _enable(params: Named) -> None:
    for p in params.values():
        p.requires_grad_(True)


def lr_scales(model, decay: float) -> dict[str, float]:
    """Learning-rate multiplier per parameter name for layer-wise decay.

    The top block, the final norm and the head get 1; each block further down gets ``decay``
    times the one above; the embeddings, below the lowest block, get ``decay ** blocks``.
    """
    layers = find_layers(model)
    n = len(layers.blocks)
    scales = {name: 1.0 for name in [*layers.norm, *layers.head]}
    for i, block in enumerate(layers.blocks):
        scales.update({name: decay ** (n - 1 - i) for name in block})
    scales.update({name: decay**n for name in layers.embeddings})
    return scales
