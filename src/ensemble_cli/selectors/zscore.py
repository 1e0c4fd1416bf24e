"""The ``zscore`` selector: keep the models that look most at home with this prompt.

Per request, each candidate model ``m`` gets its prompt perplexity ``ppl_m`` and mean
max-probability ``conf_m`` (``prompt_stats``: over the prompt tokens, in its own tokenizer,
chat-templated exactly as it will generate). Each is z-normalised and the two are combined:

    z(x, mu, sigma) = (x - mu) / sigma        (0 when sigma == 0)
    score_m = ( z(conf_m, mu_conf[m], sigma_conf[m]) - z(ppl_m, mu_ppl[m], sigma_ppl[m]) ) / 2

so a model scores high when it is more confident and less perplexed than it usually is.
``mu``/``sigma`` come from the reference statistics file (``reference_stats``, written by
``ensemble calibrate RECIPE --input FILE``: per model *name*, the mean and sample standard
deviation of both statistics over a calibration set). Without a file they are the mean and
population standard deviation across the candidate models for this request (with two models the
scores are then +1 and -1, or 0 and 0 on a tie).

Selection: with ``top_k``, the ``k`` best-scoring models; else those scoring above
``score_threshold``. Never nothing: when no model passes, the best one is kept. Ties go to recipe
order, and the chosen names keep recipe order.

Errors: a reference file that is missing, unreadable, or lacks a model of the recipe is a recipe
error naming ``selector.params.reference_stats`` (checked by ``ensemble recipes validate`` and
again when the selector runs). Paths are relative to the working directory.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..core.components import ComponentConfig, Member, Selector
from ..core.types import Example
from ..errors import Problem, RecipeError
from .prompt_stats import PromptStats, prompt_stats

REFERENCE_FORMAT = "ensemble-cli/zscore-reference/1"


# -- the reference statistics file ---------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Moments(_Strict):
    mean: float
    std: float = Field(ge=0)


class ModelReference(_Strict):
    perplexity: Moments
    max_prob: Moments
    examples: int = Field(ge=1)


class ReferenceFile(_Strict):
    """What ``ensemble calibrate`` writes: per-model moments of the prompt statistics, by name."""

    format: Literal["ensemble-cli/zscore-reference/1"] = REFERENCE_FORMAT
    recipe: str | None = None
    input: str | None = None
    models: dict[str, ModelReference]


def moments(values: Sequence[float], *, sample: bool = True) -> Moments:
    """Mean and standard deviation (sample when ``sample`` and there are 2+ values, else population)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Moments(mean=mean, std=0.0)
    return Moments(mean=mean, std=statistics.stdev(values) if sample else statistics.pstdev(values))


def reference_from_stats(stats: dict[str, list[PromptStats]], *, recipe: str | None = None,
                         input: str | None = None) -> ReferenceFile:
    """The reference file content for per-model lists of prompt statistics."""
    return ReferenceFile(
        recipe=recipe,
        input=input,
        models={
            name: ModelReference(
                perplexity=moments([s.perplexity for s in values]),
                max_prob=moments([s.max_prob for s in values]),
                examples=len(values),
            )
            for name, values in stats.items()
        },
    )


def read_reference(path: str | Path, names: Sequence[str]) -> ReferenceFile:
    """Read and check a reference file; a ``ValueError`` says what is wrong (missing models included)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"reference statistics file {path} not found (create it with `ensemble calibrate`)")
    try:
        ref = ReferenceFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read reference statistics file {path}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ValueError(f"{path} is not a reference statistics file ({where}: {first['msg']})") from exc
    missing = [n for n in names if n not in ref.models]
    if missing:
        has = ", ".join(sorted(ref.models)) or "none"
        raise ValueError(
            f"{path} has no statistics for model(s) {', '.join(map(repr, missing))} (it has: {has}); "
            "re-run `ensemble calibrate` for this recipe"
        )
    return ref


# -- the formula ---------------------------------------------------------------------------------


def _z(x: float, m: Moments) -> float:
    return 0.0 if m.std <= 0 else (x - m.mean) / m.std


def zscores(stats: dict[str, PromptStats], reference: dict[str, ModelReference] | None = None) -> dict[str, float]:
    """``score_m`` of the module docstring for each model in ``stats``."""
    if reference is None:
        ppl = moments([s.perplexity for s in stats.values()], sample=False)
        conf = moments([s.max_prob for s in stats.values()], sample=False)
        reference = {name: ModelReference(perplexity=ppl, max_prob=conf, examples=1) for name in stats}
    return {
        name: (_z(s.max_prob, reference[name].max_prob) - _z(s.perplexity, reference[name].perplexity)) / 2
        for name, s in stats.items()
    }


def keep(scores: dict[str, float], names: Sequence[str], *, threshold: float, top_k: int | None) -> list[str]:
    """The chosen names, in ``names`` order (see the module docstring for the rule)."""
    ranked = sorted(names, key=lambda n: (-scores[n], names.index(n)))
    chosen = ranked[:top_k] if top_k is not None else [n for n in ranked if scores[n] > threshold]
    chosen = chosen or ranked[:1]
    return [n for n in names if n in chosen]


# -- the selector --------------------------------------------------------------------------------


class ZScoreConfig(ComponentConfig):
    reference_stats: str | None = Field(
        None, description="JSON file from `ensemble calibrate` (default: normalise across the candidates)"
    )
    score_threshold: float = Field(0.0, description="keep models scoring above this (when top_k is not set)")
    top_k: int | None = Field(None, gt=0, description="keep the k best-scoring models instead")


class ZScoreSelector(Selector):
    description = "models whose prompt perplexity/confidence z-scores are best for this request"
    Config = ZScoreConfig
    config: ZScoreConfig

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        assert isinstance(config, ZScoreConfig)
        problems = []
        if config.top_k is not None and config.top_k > len(models):
            problems.append(Problem("top_k", f"top_k={config.top_k} but the recipe has only {len(models)} model(s)"))
        if config.reference_stats is not None:
            try:
                read_reference(config.reference_stats, models)
            except ValueError as exc:
                problems.append(Problem("reference_stats", str(exc)))
        return problems

    def select(self, examples: Sequence[Example], members: Sequence[Member]) -> list[list[str]]:
        names = [m.name for m in members]
        reference = None
        if self.config.reference_stats is not None:
            try:
                reference = read_reference(self.config.reference_stats, names).models
            except ValueError as exc:
                raise RecipeError([Problem("selector.params.reference_stats", str(exc))]) from None
        per_member = {m.name: prompt_stats(m.generator, examples) for m in members}
        out = []
        for i in range(len(examples)):
            scores = zscores({n: per_member[n][i] for n in names}, reference)
            out.append(keep(scores, names, threshold=self.config.score_threshold, top_k=self.config.top_k))
        return out
