"""The status lines and progress display of ``ensemble run`` (``console.load_status``, ``console.run_progress``):
plain lines without ``\\r`` or escape codes when stderr is not a terminal, progress that moves with
every round, and the same information on a terminal."""

from __future__ import annotations

import io
import time
from pathlib import Path

from rich.console import Console

from ensemble_cli.console.load_status import LoadStatus, describe_plan
from ensemble_cli.console.run_progress import RunProgress, RunTally
from ensemble_cli.core.events import Converted, Converting, Footprint, Loaded, Loading, RowProgress


def plain_console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=200, highlight=False), buf


def terminal_console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=200, highlight=False), buf


EVENTS = [
    Converting("gemma3-270m", 253_000_000),
    Converting("gemma3-270m", 253_000_000, "joining 4 GGUF parts"),
    Converting("gemma3-270m", 253_000_000, "dequantizing weights"),
    Converting("gemma3-270m", 253_000_000, "dequantizing weights"),  # repeated: no second line
    Converted("gemma3-270m", 41.23, 1_100_000_000),
    Loading("gemma", "hf gemma3-270m bfloat16"),
    Loaded("gemma", "hf gemma3-270m bfloat16", 2.44, Footprint(268_098_176, 536_196_352, "bfloat16")),
]


def test_load_status_without_a_terminal_is_one_plain_line_per_step():
    console, buf = plain_console()
    with LoadStatus(console) as status:
        for event in EVENTS:
            status.on_event(event)
    assert buf.getvalue().splitlines() == [
        "converting gemma3-270m (253 MB GGUF, once per machine): starting a worker…",
        "converting gemma3-270m (253 MB GGUF, once per machine): joining 4 GGUF parts…",
        "converting gemma3-270m (253 MB GGUF, once per machine): dequantizing weights…",
        "converted gemma3-270m in 41.2 s (1.1 GB in the cache)",
        "loading model gemma (hf gemma3-270m bfloat16)…",
        "loaded model gemma (hf gemma3-270m bfloat16: 268M params, 536 MB) in 2.4 s",
    ]


def test_load_status_on_a_terminal_keeps_the_finished_lines():
    console, buf = terminal_console()
    with LoadStatus(console) as status:
        for event in EVENTS:
            status.on_event(event)
        assert status._tasks == {}  # every step that started has ended
    out = buf.getvalue()
    assert "converted gemma3-270m in 41.2 s (1.1 GB in the cache)" in out
    assert "loaded model gemma (hf gemma3-270m bfloat16: 268M params, 536 MB) in 2.4 s" in out


def test_tally_counts_rows_in_flight():
    tally = RunTally(total=4, max_tokens=20)
    tally.progress("a", RowProgress(tokens=5, rounds=1))
    tally.progress("b", RowProgress(tokens=10, rounds=2))
    assert (tally.done, tally.tokens, tally.round) == (0, 15, 2)
    assert tally.completed == 0.25 + 0.5
    tally.record({"id": "a", "usage": {"completion_tokens": 7}})
    tally.record({"id": "x", "error": "boom"})
    assert (tally.done, tally.failed, tally.tokens, tally.round) == (2, 1, 17, 2)
    assert tally.completed == 2.5
    tally.progress("b", RowProgress(tokens=40, rounds=8))  # past max_tokens: still under one row
    assert tally.completed == 2.95


def test_run_progress_without_a_terminal_prints_occasional_plain_lines():
    console, buf = plain_console()
    with RunProgress(console, total=2, max_tokens=12, every_s=0.05) as progress:
        progress.on_progress("a", RowProgress(4, 1))
        progress.on_progress("b", RowProgress(4, 1))
        time.sleep(0.3)
        progress.on_record({"id": "a", "usage": {"completion_tokens": 12}})
        progress.on_record({"id": "b", "error": "ValueError: boom"})
    out = buf.getvalue()
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    assert lines[0] == "run: 2 rows to do"
    assert any(line.startswith("run: 0/2 rows done, 8 tokens written") for line in lines)  # moved within the batch
    assert "row 'b' failed: ValueError: boom" in lines
    assert lines[-1].startswith("run: 2/2 rows done (1 failed), 12 tokens written")
    assert len(lines) < 15  # a line per tick only when something moved


def test_run_progress_on_a_terminal_moves_with_rounds():
    console, _ = terminal_console()
    with RunProgress(console, total=2, max_tokens=12) as progress:
        progress.on_progress("a", RowProgress(6, 2))
        detail = progress._detail()
        assert detail.startswith("0/2  6 tok  ") and "round 2" in detail and "eta " in detail
        assert progress._progress.tasks[0].completed == 0.5
        progress.on_record({"id": "a", "usage": {"completion_tokens": 12}})
        assert progress._detail().startswith("1/2  12 tok  ")


def test_plan_line_names_members_methods_and_target():
    from ensemble_cli.recipe import load_recipe

    resolved = load_recipe(str(Path(__file__).resolve().parents[2] / "recipes" / "quickstart.yaml"))
    line = describe_plan(resolved, 10, 12, "x.jsonl")
    assert line == "recipe quickstart: smol + gemma, aggregator reward, scorer logprob; 10 of 12 rows to do → x.jsonl"
