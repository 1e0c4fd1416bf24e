"""``ensemble_cli.calibrate(...)``: ``ensemble calibrate`` from Python, the same function.

Reference statistics for the ``zscore`` selector: every member scores the input's prompts
(teacher-forced, no generation); each member's mean and standard deviation of prompt perplexity
and of mean max-probability are written, keyed by the member's *name*, to the file the recipe's
``selector.params.reference_stats`` names (or ``output``). The recipe is validated first without
that file (it may not exist yet). Returns the file's content as a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from ..errors import UsageError


def calibrate(
    recipe: str | Path,
    input: str | Path,
    output: str | Path | None = None,
    *,
    limit: int | None = None,
    batch_size: int = 8,
    overrides: Sequence[str] | None = None,
    on_model: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Compute and write the zscore reference statistics; the written document (``format``,
    ``recipe``, ``input``, ``models: {name: {perplexity, max_prob, examples}}``). ``on_model``
    hears each member's name as it loads. ``output`` wins over the recipe's ``reference_stats``."""
    from ..core.types import Example
    from ..io.readers import read_examples
    from ..plugins import get_registry
    from ..recipe import apply_overrides, load_recipe_data, validate_recipe

    if batch_size < 1 or (limit is not None and limit < 2):
        raise UsageError("batch_size must be at least 1 and limit at least 2")
    recipe, input = str(recipe), str(input)
    data = apply_overrides(load_recipe_data(recipe), tuple(overrides or ()))
    target = _target(data, None if output is None else str(output))
    if isinstance(data.get("selector"), dict) and isinstance(data["selector"].get("params"), dict):
        data["selector"]["params"] = {**data["selector"]["params"], "reference_stats": None}  # not needed to calibrate
    resolved = validate_recipe(data, get_registry(), source=recipe)
    examples = [row for row in islice(read_examples(input), limit) if isinstance(row, Example)]
    if len(examples) < 2:
        raise UsageError(f"calibration needs at least 2 usable prompts; {input} has {len(examples)}")

    from ..core.pipeline import Pipeline
    from ..selectors.prompt_stats import prompt_stats
    from ..selectors.zscore import reference_from_stats

    pipeline = Pipeline(resolved)
    pipeline.load(on_model=on_model)
    stats = {}
    for member in pipeline.members:
        values = []
        for start in range(0, len(examples), batch_size):
            values += prompt_stats(member.generator, examples[start : start + batch_size])
        stats[member.name] = values
    reference = reference_from_stats(stats, recipe=resolved.name, input=input)
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reference.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return {**reference.model_dump(mode="json"), "path": str(path)}


def _target(data: dict[str, Any], output: str | None) -> str:
    selector = data.get("selector")
    params = selector.get("params") if isinstance(selector, dict) else None
    named = params.get("reference_stats") if isinstance(params, dict) else None
    if output:
        return output
    if isinstance(named, str) and named:
        return named
    raise UsageError(
        "where should the statistics go? The recipe's selector has no params.reference_stats; pass --output FILE"
    )
