"""``ensemble lm-eval RECIPE --tasks ... [lm-eval options]``: lm-eval's own CLI on the recipe, in-process.

Registers ``EnsembleLM`` (``ensemble_cli.integrations.lm_eval``) and hands lm-eval's ``run``
command ``--model ensemble --model_args {"recipe": ..., "overrides": [...]} --batch_size 8``
followed by every other argument as given (a later ``--batch_size`` wins), so each lm-eval
option (``--tasks``, ``--include_path``, ``--limit``, ``--num_fewshot``, ``--output_path``,
``--log_samples``, ``--batch_size``, ``--gen_kwargs``, more ``--model_args`` such as
``member=NAME``) means what lm-eval's documentation says. No server. The recipe is validated
first (exit 2 on a bad one), before lm-eval or any model is imported.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ..errors import UsageError
from .deterministic_flag import DeterministicFlag, with_deterministic

NAME = "lm-eval"
_OURS = ("--model", "-M")  #: lm-eval options this command sets itself
DEFAULT_BATCH = 8  #: examples per pipeline batch unless --batch_size says otherwise
HELP = (
    "Evaluate a recipe with lm-evaluation-harness, in this process (extra 'lm-eval').\n\n"
    "Every other option goes to `lm-eval run` as given, e.g. `--tasks gsm8k --include_path tasks/ --limit 50 "
    "--output_path out/ --log_samples`; `--model_args member=NAME` runs and scores one member of an ensemble "
    "(loglikelihood tasks need one model's distribution). See `lm-eval run --help` for lm-eval's options."
)


def lm_eval_command(
    ctx: typer.Context,
    recipe: Annotated[str, typer.Argument(help="Recipe YAML file.", show_default=False)],
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a recipe value, e.g. generation.max_tokens=64."),
    ] = None,
    deterministic: DeterministicFlag = False,
) -> None:
    """Evaluate a recipe with lm-evaluation-harness, in this process (extra 'lm-eval')."""
    from ..recipe import load_recipe

    overrides = with_deterministic(overrides, deterministic)
    extra = list(ctx.args)
    taken = [a for a in extra if a in _OURS or a.startswith("--model=")]
    if taken:
        raise UsageError(f"ensemble lm-eval sets --model itself (to 'ensemble'); drop {taken[0]}")
    load_recipe(recipe, overrides=tuple(overrides or ()))  # a bad recipe: exit 2 before lm-eval loads
    from ..integrations.lm_eval import run_cli  # lm-eval only now (a clear error without the extra)

    model_args = json.dumps({"recipe": recipe, "overrides": list(overrides or [])})
    # lm-eval's own default batch is 1; ours is `ensemble run`'s 8 (a --batch_size given later wins)
    run_cli(["run", "--model", "ensemble", "--model_args", model_args, "--batch_size", str(DEFAULT_BATCH), *extra])


def register(app: typer.Typer) -> None:
    """Mount as ``lm-eval`` with unknown options passed through to lm-eval."""
    app.command(
        NAME,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help=HELP,
    )(lm_eval_command)
