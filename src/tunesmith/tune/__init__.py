"""Hyperparameter search with Optuna (``tunesmith tune``): every trial is an ordinary run.

spec.py (the study file), space.py (the search space), objective.py (one trial), study.py
(storage, samplers, pruners, the worker loop), run.py (the command top to bottom),
results.py (best.yaml, trials.csv, progress) and status.py (``--status``).
"""
