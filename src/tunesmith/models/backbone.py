"""Run a model's decoder backbone (and generate), with peft's virtual tokens when it has them.

Loss, validation and label scoring call the backbone directly, never the LM head over every
position. Prompt tuning and prefix tuning add their virtual tokens inside ``PeftModel.forward``;
this module adds them the same way, so training, scoring and generation all see them:

- prompt tuning: V trained embeddings in front of the input embeddings (positions 0..V-1);
- prefix tuning: V trained keys/values per layer as a cache prefix (positions 0..V-1).

Either way the real tokens sit at positions V.. and attend to the V virtual ones. Callers pass
masks and positions for the real tokens only; the shift by V happens here.
"""

from __future__ import annotations

import torch


def unwrap(model):
    """The transformers model under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def virtual_tokens(model) -> tuple[int, str | None]:
    """(number of virtual tokens, peft type) of a prompt-learning peft model; (0, None) else."""
    config = getattr(model, "active_peft_config", None)
    if config is None or not config.is_prompt_learning:
        return 0, None
    return config.num_virtual_tokens, str(config.peft_type.value)


def backbone_forward(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor | None = None,
    cache=None,
    use_cache: bool = False,
):
    """(last hidden states [batch, seq, hidden] of the real tokens, the KV cache or None).

    ``attention_mask`` covers the real tokens (those already in ``cache`` first); virtual
    tokens are added on the first call (``cache`` None) and are then part of the cache.
    """
    backbone = unwrap(model).get_decoder()
    n_virtual, kind = virtual_tokens(model)
    kwargs: dict = {"input_ids": input_ids}
    if n_virtual:
        batch = input_ids.shape[0]
        attention_mask = torch.cat([attention_mask.new_ones(batch, n_virtual), attention_mask], 1)
        if position_ids is not None:
            position_ids = position_ids + n_virtual
        if cache is None and kind == "PREFIX_TUNING":
            cache = model.get_prompt(batch, max_cache_len=n_virtual + input_ids.shape[1])
            use_cache = True  # the prefix is a cache: the backbone must read it
        elif cache is None:  # prompt tuning: soft prompts in front of the token embeddings
            embeds = model.word_embeddings(input_ids)
            prompts = model.get_prompt(batch_size=batch).to(embeds.dtype)
            kwargs = {"inputs_embeds": torch.cat([prompts, embeds], 1)}
            if position_ids is not None:
                first = torch.arange(n_virtual, device=position_ids.device).expand(batch, -1)
                position_ids = torch.cat([first, position_ids], 1)
    out = backbone(
        **kwargs,
        attention_mask=attention_mask,
        position_ids=position_ids,
        cache=cache,
        use_cache=use_cache,
    )
    hidden = out.last_hidden_state
    if "inputs_embeds" in kwargs:
        hidden = hidden[:, n_virtual:]
    return hidden, out.cache if use_cache else None


def generate(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs):
    """New token ids [batch, new] that ``model`` generates after ``input_ids``.

    Prompt learning goes around peft's own ``generate``, which with transformers 5 ignores a
    prefix (handed over as ``past_key_values``, which loses to the model's ``cache``) and
    misplaces soft prompts after the first new token on rotary-position models. Instead the
    virtual tokens' keys and values are computed once and passed as a pre-filled cache that
    stands for V placeholder tokens in front of the prompt; generation skips those as done.
    """
    n_virtual, _ = virtual_tokens(model)
    if not n_virtual:
        out = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return out[:, input_ids.shape[1] :]
    batch = input_ids.shape[0]
    placeholder = input_ids[:, :1].expand(batch, n_virtual)
    full_ids = torch.cat([placeholder, input_ids], 1)
    full_mask = torch.cat([attention_mask.new_ones(batch, n_virtual), attention_mask], 1)
    out = unwrap(model).generate(
        input_ids=full_ids,
        attention_mask=full_mask,
        cache=virtual_cache(model, batch, n_virtual + input_ids.shape[1]),
        **kwargs,
    )
    return out[:, full_ids.shape[1] :]


def virtual_cache(model, batch: int, length: int):
    """A KV cache holding only the V virtual tokens (positions 0..V-1), for ``batch`` rows."""
    n_virtual, kind = virtual_tokens(model)
    if kind == "PREFIX_TUNING":
        return model.get_prompt(batch, max_cache_len=length)
    prompts = model.get_prompt(batch_size=batch)  # causal: their keys/values see only each other
    dtype = unwrap(model).get_input_embeddings().weight.dtype
    out = unwrap(model).get_decoder()(inputs_embeds=prompts.to(dtype), use_cache=True)
    return out.cache
