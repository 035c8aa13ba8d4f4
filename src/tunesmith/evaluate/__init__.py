"""Scoring models on held-out data: metrics and base-vs-tuned comparisons."""
