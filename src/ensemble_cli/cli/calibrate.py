"""``ensemble calibrate RECIPE --input FILE``: reference statistics for the ``zscore`` selector.

Runs every model of the recipe over the input's prompts (teacher-forced, no generation) and saves
each model's mean and standard deviation of prompt perplexity and mean max-probability, keyed by
the model's *name* in the recipe, to the file the recipe's ``selector.params.reference_stats``
names (or ``--output``). The recipe is validated first, without that file (it may not exist yet).
The work is ``api.calibrate.calibrate`` (``ensemble_cli.calibrate``); this module parses and prints.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["calibrate"]


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
    from ..api.calibrate import calibrate as run_calibration  # the same function as ensemble_cli.calibrate()

    reference = run_calibration(
        recipe, input, output, limit=limit, batch_size=batch_size, overrides=overrides,
        on_model=lambda name: typer.echo(f"loaded model {name}", err=True),
    )
    for name, ref in reference["models"].items():
        ppl, prob = ref["perplexity"], ref["max_prob"]
        typer.echo(
            f"{name}: perplexity {ppl['mean']:.3f} ± {ppl['std']:.3f}, "
            f"max-prob {prob['mean']:.4f} ± {prob['std']:.4f} over {ref['examples']} prompts"
        )
    typer.echo(f"wrote {reference['path']}")
