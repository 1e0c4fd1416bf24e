"""The ``cascade`` aggregator: the cheap member answers first; only doubtful rows escalate.

RouteLLM-style routing on the cheap model's own output, not on the prompt::

    primary (cheap) writes        check                      escalated rows only
    ------------------------      -----------------------    -------------------------------
    samples answers (sampled)  -> agreement of the final  -> the ``escalate`` method (default
    or one answer (greedy)     -> answers, or confidence      ``single``) over ``escalate_to``

- ``check: agreement``: the primary writes ``samples`` (≥ 2) sampled answers; their final answers
  are extracted as ``vote`` does (``ensemble_cli.answers``: ``\\boxed{}``, ``#### N``, else the last
  number; equivalence by math-verify). The row is settled when the most common answer is held by
  at least ``min_agreement`` of the samples (1.0: unanimous); its output is one of those samples
  (the one with the highest mean token log-prob). A sample cut off at ``max_tokens`` or without an
  extractable answer agrees with nothing.
- ``check: confidence``: the primary writes one answer (the recipe's settings: greedy at
  ``temperature: 0``, so a settled row is exactly the primary's ``single`` answer); its confidence
  is its mean token log-prob (free: it comes with the tokens), or the score of the nested
  ``confidence`` scorer (e.g. ``self-certainty`` under a member). The row is settled when the
  confidence is at least ``threshold``. ``answer_required`` also escalates answers with no
  extractable final answer.
- With ``cut_off_escalates`` (default) an answer cut off at ``max_tokens`` always escalates.

Escalated rows, all at once, go to the nested aggregator ``escalate`` run over the members
``escalate_to`` (default: every selected member but the primary; the primary may be named to run
the full ensemble) with the recipe's scorer and generation settings: ``single`` is the stronger
member's own answer, ``{type: best-of-n, params: {n: 3, temperature: 0.7}}`` with a ``vote``
scorer its self-consistency. The primary's answers are not reused there, so a row's escalation
costs what the escalated method costs plus the primary's tokens (both in ``usage.generated_tokens``).

Records say what happened: ``summary.escalated`` (true/false), the figure that decided it
(``summary.agreement``: the top answer's share of the samples, or ``summary.confidence``) and the
check; ``selected_models`` is ``[primary]`` for a settled row and the primary plus ``escalate_to``
for an escalated one; attribution names the writer of the output. ``ensemble bench`` reports the
share escalated. Settled rows are emitted once decided; escalated rows stream as their method
does. A row cancelled while the primary writes ends empty (``stop_cause: cancelled``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from ..answers import extract_answer
from ..core.components import Aggregator, Candidate, ComponentConfig, EnsembleContext, Member, Scorer
from ..core.types import Attribution, Example, Result, Segment, Usage
from ..errors import Problem, UsageError
from ..nested_spec import ScorerSpec, nested_spec
from ..scorers.vote import agreement
from .full_answers import Answer, cancelled_result, stop_cause, write_answers

if TYPE_CHECKING:
    from ..core.pool import ModelPool

AggregatorSpec = nested_spec("aggregator")


class CascadeConfig(ComponentConfig):
    primary: str | None = Field(None, description="the cheap member that answers first (default: the first selected)")
    escalate_to: list[str] | None = Field(
        None, min_length=1, description="members the escalated rows go to (default: every selected but the primary)"
    )
    check: Literal["agreement", "confidence"] = Field(
        "agreement", description="settle a row by agreeing samples, or by the confidence of one answer"
    )
    samples: int = Field(3, ge=2, description="agreement: sampled answers the primary writes per row")
    min_agreement: float = Field(
        1.0, gt=0, le=1, description="agreement: share of the samples the top answer needs to settle the row"
    )
    temperature: float | None = Field(
        None, ge=0, description="the primary's sampling temperature (default: the recipe's)"
    )
    threshold: float | None = Field(
        None, allow_inf_nan=False, description="confidence: rows whose confidence is below it escalate"
    )
    confidence: ScorerSpec | None = Field(
        None, description="confidence: a scorer of the primary's answer (default: its mean token log-prob)"
    )
    answer_required: bool = Field(False, description="confidence: escalate answers with no extractable final answer")
    cut_off_escalates: bool = Field(True, description="an answer cut off at max_tokens always escalates")
    escalate: AggregatorSpec = Field(  # type: ignore[valid-type]
        default_factory=lambda: AggregatorSpec(type="single"),
        description="the method escalated rows run (default: single)",
    )
    chunk_tokens: int = Field(64, gt=0, description="tokens per generate call of the primary (cancellation checks)")

    @model_validator(mode="after")
    def _check_fields(self) -> CascadeConfig:
        if self.check == "confidence" and self.threshold is None:
            raise ValueError("check 'confidence' needs a threshold (rows below it escalate)")
        if self.check == "agreement":
            wrong = [f for f in ("threshold", "confidence") if getattr(self, f) is not None]
            if self.answer_required:
                wrong.append("answer_required")
            if wrong:
                raise ValueError(f"{', '.join(wrong)}: only for check 'confidence' (check is 'agreement')")
        elif "samples" in self.model_fields_set or "min_agreement" in self.model_fields_set:
            raise ValueError("samples, min_agreement: only for check 'agreement' (check is 'confidence')")
        if self.escalate.type == "cascade":
            raise ValueError("escalate: a cascade cannot escalate to another cascade")
        return self


@dataclass
class _Verdict:
    """What the primary's answers decided for one row."""

    answer: Answer  #: the primary's answer kept as the output if the row settles
    escalate: bool
    figure: float | None  #: agreement share or confidence (None: no finite confidence)
    generated: int  #: tokens the primary sampled for the row


class CascadeAggregator(Aggregator):
    description = "the cheap model answers first; rows whose samples disagree or confidence is low escalate"
    Config = CascadeConfig
    config: CascadeConfig

    def __init__(self, config: CascadeConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.inner: Aggregator = cfg.escalate.build()  # type: ignore[assignment]
        self.scorer: Scorer | None = cfg.confidence.build() if cfg.confidence is not None else None  # type: ignore[assignment]

    @property  # type: ignore[override]
    def pool(self) -> ModelPool | None:
        return self.inner.pool

    @pool.setter
    def pool(self, value: ModelPool | None) -> None:
        self.inner.pool = value
        if self.scorer is not None:
            self.scorer.pool = value

    @classmethod
    def scorer_needed(cls, config: ComponentConfig) -> bool:
        """The recipe's scorer goes to the escalated method: needed exactly when that method needs one."""
        assert isinstance(config, CascadeConfig)
        inner = config.escalate.build()
        return type(inner).scorer_needed(inner.config)  # type: ignore[attr-defined]

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        """Named members are models of the recipe; nested components' own checks at their paths."""
        assert isinstance(config, CascadeConfig)
        known = f"models of this recipe: {', '.join(models)}"
        problems = []
        if config.primary is not None and config.primary not in models:
            problems.append(Problem("primary", f"{config.primary!r} is not a model of this recipe ({known})"))
        for k, name in enumerate(config.escalate_to or []):
            if name not in models:
                problems.append(Problem(f"escalate_to.{k}", f"{name!r} is not a model of this recipe ({known})"))
        if config.escalate_to is None and len(models) < 2:
            problems.append(Problem("escalate_to", "a cascade needs a second model to escalate to"))
        primary = config.primary if config.primary is not None else (models[0] if models else None)
        escalated = config.escalate_to or [m for m in models if m != primary]
        # the escalated method runs over the escalated members only; the confidence scorer sees them all
        for field, spec, names in (("escalate", config.escalate, escalated), ("confidence", config.confidence, models)):
            if spec is None:
                continue
            inner = spec.build()
            for p in type(inner).recipe_problems(inner.config, names):
                problems.append(Problem(f"{field}.params" + (f".{p.path}" if p.path else ""), p.message))
        return problems

    # -- members -----------------------------------------------------------------------------

    def _roles(self, members: Sequence[Member]) -> tuple[Member, list[Member]]:
        cfg = self.config
        by_name = {m.name: m for m in members}
        if cfg.primary is not None and cfg.primary not in by_name:
            raise UsageError(f"cascade: primary {cfg.primary!r} is not among the selected members "
                             f"({', '.join(by_name)})")
        primary = by_name[cfg.primary] if cfg.primary is not None else members[0]
        if cfg.escalate_to is None:
            stronger = [m for m in members if m.name != primary.name]
        else:
            missing = [n for n in cfg.escalate_to if n not in by_name]
            if missing:
                raise UsageError(f"cascade: escalate_to {', '.join(map(repr, missing))} not among the selected "
                                 f"members ({', '.join(by_name)})")
            stronger = [m for m in members if m.name in cfg.escalate_to]  # selection (recipe) order
        if not stronger:
            raise UsageError(f"cascade: no member to escalate to besides the primary {primary.name!r}")
        return primary, stronger

    # -- the primary's verdicts --------------------------------------------------------------

    def _by_agreement(self, answers: list[list[Answer]]) -> list[_Verdict]:
        cfg = self.config
        verdicts = []
        for row in answers:
            finals = [None if a.segment.finish_reason == "length" else extract_answer(a.segment.text) for a in row]
            agree = agreement(finals)
            top = max(range(len(row)), key=lambda i: (finals[i] is not None, agree[i], row[i].segment.mean_logprob, -i))
            share = (agree[top] + 1) / len(row) if finals[top] is not None else 0.0
            generated = sum(len(a.segment.token_ids) for a in row)
            verdicts.append(_Verdict(row[top], share < cfg.min_agreement - 1e-9, share, generated))
        return verdicts

    def _by_confidence(self, examples: Sequence[Example], answers: list[list[Answer]],
                       members: Sequence[Member]) -> list[_Verdict]:
        cfg = self.config
        assert cfg.threshold is not None
        firsts = [row[0] for row in answers]
        if self.scorer is None:
            figures = [a.segment.mean_logprob for a in firsts]
        else:
            self.scorer.bind(members)
            figures = self.scorer.score([Candidate(ex, "", a.member, a.segment)
                                         for ex, a in zip(examples, firsts, strict=True)])
        verdicts = []
        for a, figure in zip(firsts, figures, strict=True):
            low = not figure >= cfg.threshold  # NaN and -inf escalate
            missing = cfg.answer_required and extract_answer(a.segment.text) is None
            cut = cfg.cut_off_escalates and a.segment.finish_reason == "length"
            verdicts.append(_Verdict(a, low or missing or cut, figure if math.isfinite(figure) else None,
                                     len(a.segment.token_ids)))
        return verdicts

    # -- the run -----------------------------------------------------------------------------

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        cfg = self.config
        primary, stronger = self._roles(ctx.members)
        if type(self).scorer_needed(cfg) and ctx.scorer is None:
            raise UsageError(f"cascade: the escalated method {cfg.escalate.type!r} needs the recipe's scorer")
        settings = ctx.settings if cfg.temperature is None else replace(ctx.settings, temperature=cfg.temperature)
        agreement_check = cfg.check == "agreement"
        if agreement_check and settings.greedy:
            raise UsageError("cascade: check 'agreement' needs sampled answers (greedy samples always agree): "
                             "set aggregator.params.temperature > 0")
        n = cfg.samples if agreement_check else 1
        answers, prompt_tokens = write_answers(primary, examples, settings, ctx, n=n, chunk_tokens=cfg.chunk_tokens)
        live = [e for e in range(len(examples)) if not ctx.is_cancelled(e)]
        verdicts = (self._by_agreement([answers[e] for e in live]) if agreement_check
                    else self._by_confidence([examples[e] for e in live], [answers[e] for e in live], ctx.members))
        decided = dict(zip(live, verdicts, strict=True))
        results: list[Result | None] = [None] * len(examples)
        for e, ex in enumerate(examples):
            if e not in decided:
                results[e] = cancelled_result(ex, prompt_tokens[e], sum(len(a.segment.token_ids) for a in answers[e]))
                results[e].selected_models = [primary.name]  # type: ignore[union-attr]
            elif not decided[e].escalate:
                results[e] = self._settled(ex, decided[e], prompt_tokens[e], primary)
                ctx.emit(e, results[e].output, primary.name)  # type: ignore[union-attr]
        up = [e for e in live if decided[e].escalate]
        if up:
            inner_ctx = EnsembleContext(
                members=stronger, scorer=ctx.scorer, settings=ctx.settings,
                on_piece=lambda i, text, model: ctx.emit(up[i], text, model),
                cancelled=lambda i: ctx.is_cancelled(up[i]),
            )
            escalated = self.inner.run([examples[e] for e in up], inner_ctx)
            if len(escalated) != len(up):
                raise RuntimeError(f"cascade: escalate method {cfg.escalate.type!r} returned "
                                   f"{len(escalated)} results for {len(up)} examples")
            ran = [primary.name, *(m.name for m in stronger if m.name != primary.name)]
            order = [m.name for m in ctx.members if m.name in ran]
            for e, res in zip(up, escalated, strict=True):
                res.usage.generated_tokens += decided[e].generated
                res.usage.prompt_tokens = prompt_tokens[e]
                inner_summary = {"escalation": res.summary} if res.summary else {}
                res.summary = {**self._summary(decided[e], True), **inner_summary}
                res.selected_models = order
                results[e] = res
        return [r for r in results if r is not None]

    def _summary(self, verdict: _Verdict, escalated: bool) -> dict[str, Any]:
        cfg = self.config
        figure = None if verdict.figure is None else round(verdict.figure, 6)
        if cfg.check == "agreement":
            return {"escalated": escalated, "check": "agreement", "agreement": figure,
                    "min_agreement": cfg.min_agreement}
        return {"escalated": escalated, "check": "confidence", "confidence": figure, "threshold": cfg.threshold}

    def _settled(self, example: Example, verdict: _Verdict, prompt_tokens: int, primary: Member) -> Result:
        seg: Segment = verdict.answer.segment
        return Result(
            example.id, seg.text, seg.finish_reason, selected_models=[primary.name],
            attribution=[Attribution(primary.name, 0, seg.text, len(seg.token_ids), verdict.figure)],
            usage=Usage(prompt_tokens, len(seg.token_ids), verdict.generated), rounds=1, stop_cause=stop_cause(seg),
            summary=self._summary(verdict, False),
        )
