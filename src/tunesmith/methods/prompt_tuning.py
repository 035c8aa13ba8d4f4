"""Prompt tuning (Lester et al. 2021): ``prompt.num_virtual_tokens`` trained embeddings put in
front of every input; the whole model stays frozen (in the compute dtype).

peft adds the soft prompt inside ``PeftModel.forward``; the backbone-only paths (loss, label
scoring, generation) add it through ``tunesmith.models.backbone``.
"""

from __future__ import annotations

from tunesmith.config import Config
from tunesmith.methods import lora

frozen_dtype = lora.frozen_dtype
save = lora.save  # adapter_model.safetensors holds the prompt embeddings
load = lora.load


def prepare(model, cfg: Config):
    """Wrap ``model`` with a fresh soft prompt: embeddings of ``init_text``, or of random tokens."""
    from peft import PromptTuningConfig, PromptTuningInit, get_peft_model

    text = cfg.prompt.init_text
    config = PromptTuningConfig(
        task_type="CAUSAL_LM",
        num_virtual_tokens=cfg.prompt.num_virtual_tokens,
        prompt_tuning_init=PromptTuningInit.TEXT if text else PromptTuningInit.SAMPLE_VOCAB,
        prompt_tuning_init_text=text,
        # The text is tokenized with the model's own tokenizer, found where the model came from.
        tokenizer_name_or_path=model.name_or_path if text else None,
    )
    return get_peft_model(model, config)
