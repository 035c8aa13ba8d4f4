"""tunesmith: fine-tune GPT-style language models on your own data."""

__version__ = "0.1.0"
