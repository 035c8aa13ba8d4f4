"""Explaining a finished run: console table, HTML report and model card."""
