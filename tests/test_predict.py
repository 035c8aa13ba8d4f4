"""predict_file: which text of each input row reaches the model."""

from __future__ import annotations

import csv
import json

import pytest
import torch

import tunesmith.predict as predict
from tunesmith.config import Config
from tunesmith.rundir import TunedRun


def fake_run(task: str) -> TunedRun:
    """A run without a model: generation is replaced by a recorder in the tests below."""
    cpu = torch.device("cpu")
    return TunedRun(None, Config(), task, None, None, None, cpu, torch.float32)  # type: ignore[arg-type]


@pytest.fixture
def prompts_seen(monkeypatch) -> list[str]:
    seen: list[str] = []

    def record(run, prompt, max_new_tokens=None):
        seen.append(prompt)
        return "answer"

    monkeypatch.setattr(predict, "_complete", record)
    return seen


def test_text_rows_are_completed_from_the_text_column(tmp_path, prompts_seen):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,the movie\n2,a plot\n", encoding="utf-8")
    assert predict.predict_file(fake_run("text"), str(source), str(tmp_path / "out.csv")) == 2
    assert prompts_seen == ["the movie", "a plot"]
    with (tmp_path / "out.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["id"], r["prediction"]) for r in rows] == [("1", "answer"), ("2", "answer")]


def test_instruction_rows_keep_their_instruction(tmp_path, prompts_seen):
    source = tmp_path / "in.jsonl"
    row = {"instruction": "Translate to French", "input": "good morning"}
    source.write_text(json.dumps(row) + "\n", encoding="utf-8")
    predict.predict_file(fake_run("instruction"), str(source), str(tmp_path / "out.csv"))
    assert "Translate to French" in prompts_seen[0]
    assert "good morning" in prompts_seen[0]


def test_inputs_are_cleaned_as_training_cleaned_its_texts(tmp_path, prompts_seen):
    run = fake_run("text")
    run.cfg.data.preprocess.lowercase = True
    run.cfg.data.preprocess.strip_html = True
    source = tmp_path / "in.csv"
    source.write_text("text\nＴhe <b>Movie</b>   was\n", encoding="utf-8")
    predict.predict_file(run, str(source), str(tmp_path / "out.csv"))
    assert prompts_seen == ["the movie was"]
    predict.generate(run, "A <i>Plot</i>")
    assert prompts_seen[-1] == "a plot"
