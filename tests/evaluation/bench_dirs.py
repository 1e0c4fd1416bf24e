"""Hand-made bench folders (what ``ensemble bench`` writes) for ``bench plot`` / ``bench summary`` tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eval_records import record

from ensemble_cli.evaluation.compare import compare

GENERATION = {"max_tokens": 256, "temperature": 0.0, "seed": 1}


def verdicts(
    values: str, *, tokens: int = 10, prompt: str = "problem", attribution: list[tuple[str, str]] | None = None
) -> list[dict[str, Any]]:
    """Records ``p0..pN``: ``1`` right, ``0`` wrong (label 1), each with ``tokens`` sampled."""
    out = []
    for i, v in enumerate(values):
        rec = record(f"p{i}", "1" if v == "1" else "999", "#### 1", tokens=tokens, attribution=attribution)
        rec["prompt"] = f"{prompt} {i}"
        out.append(rec)
    return out


def timed(records: list[dict[str, Any]], seconds: float | list[float], batch: int = 2, day: str = "01") -> list[dict]:
    """``records`` run in batches of ``batch`` rows, as a bench writes them: the rows of a batch share one
    ``timing`` (``started_at``, wall ``seconds``); batch ``i`` took ``seconds[i]`` (or ``seconds`` each)."""

    def timing(i: int) -> dict[str, Any]:
        took = seconds[i // batch] if isinstance(seconds, list) else seconds
        return {"seconds": took, "started_at": f"2026-01-{day}T00:{i // batch:02d}:00", "batch_size": batch}

    return [{**r, "timing": timing(i)} for i, r in enumerate(records)]


def member_records(recipe: str, name: str, values: str, *, tokens: int = 10, model: str | None = None) -> list[dict]:
    """A member alone: its records carry the member recipe (``bench`` names it ``<recipe>.<member>``)."""
    config = {
        "name": f"{recipe}.{name}",
        "description": f"{name} alone (baseline of {recipe})",
        "models": [{"name": name, "generator": "hf", "params": {"model": model or name}}],
        "aggregator": {"type": "single"},
        "generation": GENERATION,
    }
    return [{**r, "recipe": config} for r in verdicts(values, tokens=tokens)]


def make_bench(
    folder: Path,
    recipe: str,
    members: dict[str, list[dict[str, Any]]],
    ensemble: list[dict[str, Any]],
    seconds: dict[str, float],
    *,
    command: str | None = "default",
    reused: tuple[str, ...] = (),
    stored_under: str = "elsewhere/run",
) -> Path:
    """Write a finished bench folder as ``ensemble bench`` does (bench.json from the real ``compare``).

    ``stored_under``: the folder path ``bench.json`` names the files by, as if benched from
    another working directory (the reader must find them by file name).
    """
    folder.mkdir(parents=True)
    files = {}
    for name, recs in [*members.items(), (recipe, ensemble)]:
        file = f"member-{name}.jsonl" if name in members else "ensemble.jsonl"
        (folder / file).write_text("".join(json.dumps(r) + "\n" for r in recs))
        files[name] = f"{stored_under}/{file}"
    result = compare(members, ensemble, seconds, ensemble_name=recipe)
    doc = {
        "recipe": recipe,
        "recipe_hash": "0" * 16,
        **(
            {}
            if command is None
            else {
                "command": f"ensemble bench {recipe}.yaml --dataset gsm8k --limit 8"
                if command == "default"
                else command
            }
        ),
        "source": "gsm8k",
        "problems": len(ensemble),
        "load_seconds": 1.0,
        **result.to_dict(),
        "files": files,
        "reused_baselines": {name: f"earlier/member-{name}.jsonl" for name in reused},
        "resumed": {},
    }
    (folder / "bench.json").write_text(json.dumps(doc, indent=2) + "\n")
    return folder
