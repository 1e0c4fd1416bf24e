"""``Ensemble.generate`` / ``stream`` / ``agenerate`` / ``astream`` on a tiny two-member ensemble:
the same records as ``ensemble run``, pieces that add up to the text, concurrency that changes
nothing, and models shared between ``Ensemble``s and freed by ``close()``."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from ensemble_cli import Completion, Ensemble, StreamPiece
from ensemble_cli.cli.main import app
from ensemble_cli.core.pool import ModelPool

ROWS = [{"prompt": "The capital of France is"}, {"prompt": "One, two, three,"}, {"prompt": "Hello"}]


def _without_timing(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "timing"}


def test_generate_on_a_batch_gives_the_records_of_ensemble_run(duo: dict, tmp_path: Path) -> None:
    recipe = tmp_path / "duo.yaml"
    recipe.write_text(yaml.safe_dump(duo))
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["run", str(recipe), "-i", str(data), "-o", str(out), "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    cli_records = [json.loads(line) for line in out.read_text().splitlines()]

    with Ensemble.from_recipe(recipe, batch_size=2, pool=ModelPool()) as ens:
        done = ens.generate([r["prompt"] for r in ROWS])
    assert isinstance(done, list) and all(isinstance(c, Completion) for c in done)
    assert [_without_timing(c.to_record()) for c in done] == [_without_timing(r) for r in cli_records]
    assert [c.to_record()["timing"]["batch_size"] for c in done] == [r["timing"]["batch_size"] for r in cli_records]
    first = done[0]
    assert first.text == cli_records[0]["output"] and first.text  # the tiny models do write something
    assert "".join(a.text for a in first.attribution) == first.text
    assert first.selected_models == ["first", "second"] and first.finish_reason in ("stop", "length")
    assert first.usage.completion_tokens > 0 and first.stop_cause is not None
    assert first.to_record()["recipe_hash"] == ens.recipe_hash


def test_sampling_arguments_override_generation_for_the_call(duo: dict) -> None:
    with Ensemble.from_recipe(duo, pool=ModelPool()) as ens:
        short = ens.generate("Hello", max_tokens=4)
        assert short.usage.completion_tokens <= 4
        assert short.to_record()["recipe"]["generation"]["max_tokens"] == 4
        assert short.to_record()["recipe_hash"] != ens.recipe_hash
        same = Ensemble.from_recipe(duo, {"generation.max_tokens": 4}, pool=ModelPool())
        assert short.to_record()["recipe_hash"] == same.recipe_hash  # as `--set generation.max_tokens=4`
        assert ens.generate("Hello").to_record()["recipe"]["generation"]["max_tokens"] == 12  # only that call


def test_stream_pieces_concatenate_to_the_generate_text(duo: dict) -> None:
    with Ensemble.from_recipe(duo, pool=ModelPool()) as ens:
        expected = ens.generate(["The capital of France is", "Hello"])
        stream = ens.stream(["The capital of France is", "Hello"])
        pieces = list(stream)
    assert pieces and all(isinstance(p, StreamPiece) for p in pieces)
    for i, completion in enumerate(expected):
        mine = [p for p in pieces if p.index == i]
        assert "".join(p.text for p in mine) == completion.text
        assert [(p.model, p.text) for p in mine] == [(a.model, a.text) for a in completion.attribution if a.text]
        assert {p.id for p in mine} == {completion.id}
    assert [c.text for c in stream.completions or []] == [c.text for c in expected]


def test_leaving_a_stream_early_cancels_the_rest(duo: dict) -> None:
    with Ensemble.from_recipe(duo, {"generation.max_tokens": 64, "aggregator.params.max_rounds": 16},
                              pool=ModelPool()) as ens:
        stream = ens.stream("Count: one, two,")
        for _piece in stream:
            break
        full = ens.generate("Count: one, two,")  # waits for the stream's worker (one call at a time)
    assert stream.completions is not None  # the worker finished: the rows saw the stop flag
    cut = stream.completion
    assert cut.stop_cause == "cancelled" and cut.finish_reason == "stop"
    assert len(cut.text) < len(full.text) and full.text.startswith(cut.text)


def test_eight_concurrent_agenerate_tasks_equal_eight_sequential_calls(duo: dict) -> None:
    prompts = [f"Item {i}: the answer is" for i in range(8)]
    with Ensemble.from_recipe(duo, pool=ModelPool()) as ens:
        sequential = [ens.generate(p).to_record() for p in prompts]

        async def main() -> tuple[list[Completion], int]:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.001)
                    ticks += 1

            beat = asyncio.create_task(ticker())
            results = await asyncio.gather(*(ens.agenerate(p) for p in prompts))
            beat.cancel()
            return list(results), ticks  # type: ignore[arg-type]

        concurrent, ticks = asyncio.run(main())
    assert [_without_timing(c.to_record()) for c in concurrent] == [_without_timing(r) for r in sequential]
    assert ticks > 0  # the event loop kept running while the ensemble worked


def test_astream_gives_the_pieces_on_the_event_loop(duo: dict) -> None:
    with Ensemble.from_recipe(duo, pool=ModelPool()) as ens:
        text = ens.generate("Hello").text

        async def main() -> list[StreamPiece]:
            return [piece async for piece in ens.astream("Hello")]

        pieces = asyncio.run(main())
    assert "".join(p.text for p in pieces) == text
    assert all(p.model in ("first", "second") for p in pieces)


def test_two_ensembles_share_a_model_and_close_frees_what_nobody_holds(duo: dict) -> None:
    pool = ModelPool()
    single = {**duo, "name": "solo", "models": duo["models"][:1], "aggregator": "single", "scorer": None}
    one = Ensemble.from_recipe(duo, pool=pool).load()
    two = Ensemble.from_recipe(single, pool=pool).load()
    assert pool.loads == 2 and len(pool.keys()) == 2  # "first" is shared, loaded once
    loaded = pool.keys()
    first_key = next(k for k in loaded if duo["models"][0]["params"]["model"] in k)
    one.close()
    assert pool.keys() == [first_key]  # "second" freed; "first" still held by `two`
    model = weakref.ref(two.pipeline.members[0].generator.loaded.model)
    two.close()
    assert pool.keys() == []
    gc.collect()
    assert model() is None  # nothing keeps the weights alive
    try:
        two.generate("Hello")
    except Exception as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("a closed Ensemble answered")
