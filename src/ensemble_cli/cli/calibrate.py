"""``ensemble calibrate RECIPE --input FILE``: reference statistics for the ``zscore`` selector.

Runs every model of the recipe over the input's prompts (teacher-forced, no generation) and saves
each model's mean and standard deviation of prompt perplexity and mean max-probability, keyed by
the model's *name* in the recipe, to the file the recipe's ``selector.params.reference_stats``
names (or ``--output``). The recipe is validated first, without that file (it may not exist yet).
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError

__all__ = ["calibrate"]


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


def calibrate(
    recipe: Annotated[str, typer.Argument(help="Recipe YAML file.", show_default=False)],
    input: Annotated[
        str,
        typer.Option("--input", "-i", help="JSON list or JSONL file of prompts, or - for stdin.", show_default=False),
    ],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Statistics file. [default: the recipe's selector.params.reference_stats]"),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=2, help="Only the first N rows of the input.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Prompts scored per forward batch.")] = 8,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a recipe value, e.g. models.0.params.dtype=float32."),
    ] = None,
) -> None:
    """Compute the zscore selector's reference statistics (per model name) over a prompt set."""
    from ..core.types import Example
    from ..io.readers import read_examples
    from ..plugins import get_registry
    from ..recipe import apply_overrides, load_recipe_data, validate_recipe

    data = apply_overrides(load_recipe_data(recipe), tuple(overrides or ()))
    target = _target(data, output)
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
    pipeline.load(on_model=lambda name: typer.echo(f"loaded model {name}", err=True))
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
    for name, ref in reference.models.items():
        typer.echo(
            f"{name}: perplexity {ref.perplexity.mean:.3f} ± {ref.perplexity.std:.3f}, "
            f"max-prob {ref.max_prob.mean:.4f} ± {ref.max_prob.std:.4f} over {ref.examples} prompts"
        )
    typer.echo(f"wrote {path}")
