"""Blind votes (JSONL lines) and the bench viewer's document of a bench folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from ensemble_cli.errors import UsageError
from ensemble_cli.ui.bench_view import bench_document
from ensemble_cli.ui.votes import Vote, append_vote


def test_votes_are_appended_one_line_each_with_the_winner(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "votes.jsonl"
    append_vote(path, Vote(prompt="p", shown=["b", "ens"], outputs=["x", "y"], choice=1, recipe="ens"))
    append_vote(path, Vote(prompt="q", shown=["ens", "b"], outputs=["y", "x"], choice="tie"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(v["prompt"], v["winner"]) for v in lines] == [("p", "ens"), ("q", "tie")]
    assert lines[0]["shown"] == ["b", "ens"] and lines[0]["time"] > 0
    with pytest.raises(ValueError, match="choice 2 is not a column"):
        append_vote(path, Vote(prompt="p", shown=["a", "b"], outputs=["x", "y"], choice=2))
    with pytest.raises(ValidationError):
        Vote(prompt="p", shown=["a", "b"], outputs=["x", "y"], choice=0, extra=1)  # type: ignore[call-arg]
    assert len(path.read_text().splitlines()) == 2


def test_bench_document_has_the_summary_figures_and_every_problem(bench_folder: Path) -> None:
    doc = bench_document(bench_folder)
    assert doc["ensemble"] == "vote" and doc["members"] == ["a", "b"]
    summary = doc["summary"]
    assert summary["problems"] == 8 and summary["best_member"] == "b"
    assert summary["ensemble"]["correct"] == 6 and summary["lift"] == pytest.approx(6 / 8 - 4 / 8)
    assert summary["mcnemar"]["ensemble_only"] == 2 and summary["mcnemar"]["best_only"] == 0
    assert len(summary["lift_ci95"]) == 2
    assert doc["comparison"]["ensemble"]["cost"]["seconds"] == 60.0
    first, last = doc["problems"][0], doc["problems"][-1]
    assert first["id"] == "p0" and first["reference"] == "1"
    assert {n: s["correct"] for n, s in last["systems"].items()} == {"a": True, "b": False, "vote": True}


def test_a_folder_that_is_not_a_bench_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"{tmp_path} is not a finished bench folder"):
        bench_document(tmp_path)
