"""The ``moa`` aggregator: Mixture-of-Agents (Wang et al., 2024).

Proposer layers, then one aggregator model::

    layer 1:      each proposer answers the question
    layer k > 1:  each proposer answers again, shown layer k-1's answers in the synthesis prompt
    final:        the aggregator model writes the output, shown the last layer's answers

``layers`` is a number of layers in which every selected member proposes, or an explicit list of
layers, each a list of member names (``[[smol, gemma], [smol]]``). Names the selector did not pick
for a request are left out of their layer; a layer left empty is an error. ``aggregator_model``
names the member that writes the final answer (default: the first selected member; it must be
selected). ``samples`` proposals per proposer and layer (sampled at ``proposer_temperature``, since
greedy samples are copies) give Self-MoA (arXiv 2502.00674): one strong model's samples aggregated
by itself, ``layers: [[big]]``, ``samples: 4``, ``aggregator_model: big``.

The synthesis prompt follows the MoA paper's "aggregate-and-synthesize" prompt: a system turn
holding ``synthesis_prompt`` and the numbered answers, followed by the request's own messages (a
system message of the request is appended to ours). Proposers of every layer write up to
``proposer_max_tokens`` (default: ``generation.max_tokens``); the final answer is written in
``chunk_tokens`` pieces and emitted piece by piece, so it streams; cancellation is checked between
layers and pieces. Attribution holds the final answer only (one entry per piece, round = number
of proposer layers); ``usage.generated_tokens`` counts every proposal too.

The proposals are in the record (``record_proposals``, on by default), since the final answer
alone cannot say whether the aggregator followed, combined or overruled them:
``summary.proposals`` lists each one (layer, member, sample, its final answer as
``extract_answer`` reads it, finish reason, tokens, mean log-prob). No text: the records stay
small, and who agreed with whom is in the answers. (Not ``summary.trace``: that format's rounds keep
one candidate, and the aggregator keeps none, it writes anew.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pydantic import Field

from ..core.components import Aggregator, ComponentConfig, EnsembleContext, Member
from ..core.types import Example, Result, Usage
from ..errors import Problem, UsageError
from .full_answers import Answer, answer_record, final_answers, write_answers
from .single import write_to_end

SYNTHESIS_PROMPT = (
    "You have been provided with a set of responses from various models to the latest user query. "
    "Your task is to synthesize these responses into a single, high-quality response. Critically "
    "evaluate the information provided in these responses, recognizing that some of it may be biased "
    "or incorrect. Do not simply copy the given answers; offer a refined, accurate and comprehensive reply."
)


class MoAConfig(ComponentConfig):
    layers: int | list[list[str]] = Field(1, description="proposer layers: a count (all members) or member names")
    aggregator_model: str | None = Field(None, description="member writing the final answer (default: first)")
    synthesis_prompt: str = Field(SYNTHESIS_PROMPT, description="system text shown before the numbered answers")
    proposer_max_tokens: int | None = Field(None, gt=0, description="token budget of each proposal")
    samples: int = Field(1, gt=0, description="proposals each proposer writes per layer (Self-MoA: several of one)")
    proposer_temperature: float | None = Field(
        None, ge=0, description="sampling temperature of the proposals (default: the recipe's)"
    )
    chunk_tokens: int = Field(32, gt=0, description="tokens per generate call of the final answer (streaming)")
    record_proposals: bool = Field(
        True, description="list every proposal (layer, member, final answer, tokens) in the record's summary"
    )


def synthesis_example(example: Example, prompt: str, answers: Sequence[str]) -> Example:
    """The request with the previous layer's answers shown in a system turn."""
    listed = "\n\n".join(f"{i}. {a.strip()}" for i, a in enumerate(answers, 1))
    system = f"{prompt}\n\nResponses from models:\n\n{listed}"
    own = [m for m in example.messages if m["role"] == "system"]
    if own:
        system += "\n\n" + "\n\n".join(m["content"] for m in own)
    rest = [m for m in example.messages if m["role"] != "system"]
    return replace(example, messages=[{"role": "system", "content": system}, *rest])


class MoAAggregator(Aggregator):
    description = "Mixture-of-Agents: proposer layers, then an aggregator model synthesises their answers"
    Config = MoAConfig
    config: MoAConfig

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        """Layer members and the aggregator model must be models of the recipe."""
        assert isinstance(config, MoAConfig)
        problems = []
        if not isinstance(config.layers, int):
            for k, names in enumerate(config.layers):
                if not names:
                    problems.append(Problem(f"layers.{k}", "a proposer layer needs at least one model"))
                for j, name in enumerate(names):
                    if name not in models:
                        problems.append(Problem(f"layers.{k}.{j}", f"{name!r} is not a model of this recipe"))
        if (config.layers if isinstance(config.layers, int) else len(config.layers)) < 1:
            problems.append(Problem("layers", "at least one proposer layer"))
        if config.aggregator_model is not None and config.aggregator_model not in models:
            problems.append(Problem("aggregator_model", f"{config.aggregator_model!r} is not a model of this recipe"))
        return problems

    def _layers(self, members: Sequence[Member]) -> list[list[Member]]:
        cfg = self.config
        if isinstance(cfg.layers, int):
            return [list(members) for _ in range(cfg.layers)]
        by_name = {m.name: m for m in members}
        layers = []
        for k, names in enumerate(cfg.layers):
            layer = [by_name[n] for n in names if n in by_name]
            if not layer:
                raise UsageError(f"moa: proposer layer {k} has none of its members selected ({', '.join(names)})")
            layers.append(layer)
        return layers

    def _final(self, members: Sequence[Member]) -> Member:
        name = self.config.aggregator_model
        if name is None:
            return members[0]
        for m in members:
            if m.name == name:
                return m
        raise UsageError(f"moa: aggregator_model {name!r} is not among the selected members")

    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        cfg = self.config
        layers, final = self._layers(ctx.members), self._final(ctx.members)
        n_ex = len(examples)
        generated = [0] * n_ex
        proposal_settings = replace(ctx.settings, max_tokens=cfg.proposer_max_tokens or ctx.settings.max_tokens)
        if cfg.proposer_temperature is not None:
            proposal_settings = replace(proposal_settings, temperature=cfg.proposer_temperature)
        prompts = list(examples)
        proposed: list[list[list[Answer]]] = [[] for _ in examples]  # [example][layer] -> answers
        for layer in layers:
            for e in range(n_ex):
                proposed[e].append([])
            for m in layer:
                answers, _ = write_answers(m, prompts, proposal_settings, ctx, n=cfg.samples, chunk_tokens=64)
                for e in range(n_ex):
                    proposed[e][-1].extend(answers[e])
                    generated[e] += sum(len(a.segment.token_ids) for a in answers[e])
            prompts = [synthesis_example(ex, cfg.synthesis_prompt, [a.segment.text for a in proposed[e][-1]])
                       for e, ex in enumerate(examples)]
        results = self._write_final(examples, prompts, final, ctx, generated, len(layers))
        if cfg.record_proposals:
            for result, layered in zip(results, proposed, strict=True):
                result.summary.update(proposal_summary(layered))
        return results

    def _write_final(
        self, examples: Sequence[Example], prompts: list[Example], final: Member, ctx: EnsembleContext,
        generated: list[int], rounds: int,
    ) -> list[Result]:
        settings = ctx.settings
        session = final.generator.open(prompts, settings, salt=final.name)
        results = [Result(ex.id, usage=Usage(prompt_tokens=session.prompt_length(i), generated_tokens=generated[i]),
                          rounds=rounds + 1) for i, ex in enumerate(examples)]
        active = []
        for e in range(len(examples)):
            if ctx.is_cancelled(e):
                results[e].finish_reason, results[e].stop_cause = "stop", "cancelled"
            else:
                active.append(e)
        if len(active) < len(examples):
            session.retain(active)  # session rows follow ``active`` from here on
        return write_to_end(ctx, session, final.name, active, results, self.config.chunk_tokens, fixed_round=rounds)


def proposal_summary(layers: Sequence[Sequence[Answer]]) -> dict[str, Any]:
    """``summary.proposals`` of one example: every proposal, layer by layer."""
    proposals = []
    for k, answers in enumerate(layers):
        proposals += [{"layer": k, **answer_record(a, final)}
                      for a, final in zip(answers, final_answers(answers), strict=True)]
    return {"proposals": proposals}
