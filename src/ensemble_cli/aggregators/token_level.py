"""Token-level ensembling across different tokenizers: the stepping shared by ``union`` and ``topk-union``.

Every step, each member gives its next-token distribution; the method (``merge``) turns them into
one score per entry of the union vocabulary (``vocab.union``: entries are the *bytes* a token stands
for, so members with different tokenizers vote on the same strings); one entry is chosen (greedy,
or sampled with the row's own seed) and becomes part of the shared output bytes.

Keeping members in step, without ever re-encoding the context:

* Each member holds its own incremental session (``HFSessionBatch``): its own token ids of the
  shared text and its KV cache, batched across examples.
* When every member that voted put the chosen entry first (always, for a model ensembled with itself,
  and for the primary alone in a gated step), each is fed its own top token as it is: the step is
  exactly what that model does alone. (So a member's ids equal its tokenizer's own encoding of the
  text except where it kept a token it chose itself, e.g. ``Jan`` + ``et`` where its tokenizer
  would write ``Janet``: the split a model makes when generating alone.)
* Otherwise the members *catch up from text*: before their next forward, the new text is appended
  with ``HFSessionBatch.append``, which re-encodes only the row's last ``tail_tokens`` tokens (the
  generator's ``tail_tokens``, default 4) together with the new text and feeds the tokens that
  differ. So each member holds its *own* tokenization of the text (Gemma its ``\\n`` token, never a
  byte-fallback id) and the work per catch-up is bounded by ``tail_tokens`` + the new text's tokens,
  whatever the context length. (The tail doubles only if the tokenizer cannot decode the kept head
  back to a prefix of the text, e.g. when it ends inside a character.)
* An entry may end inside a UTF-8 character (a byte-level token holding half of an emoji). Until
  the character is complete, members that spell the entry as one token take it as that token (their
  ordinary token, preferred over a byte fallback) and keep voting; the others sit out and catch up
  from text once the character is complete. While a character is incomplete, only entries that
  continue it validly are candidates, scored by the weighted member probabilities; entries that are
  not valid UTF-8 from a character boundary are never chosen, so the output is always valid text.
* Gate mode (``primary`` + ``threshold``): when the primary's top probability is above the threshold
  the step uses it alone and the other members run no forward pass; they catch up from text the next
  time they are needed. By default a member runs over the whole batch whenever any row needs it,
  catching up every row it can in the same forward. ``gate_sub_batch: true`` makes its forward cover
  only the rows that need it (``HFSessionBatch.next_logits(rows=...)``): the other rows' sessions are
  not touched (no catch-up, no forward) and catch up from text when next needed. The aim is that the
  gate's saving survives batching; measured on CPU it does not yet (0.91x the whole-batch gate at
  batch 8: each sub-batch forward copies its rows' caches out and back), hence off by default.

Identical tokenizers (``UnionVocab.shared``: every member maps every token id to the same entry,
e.g. Qwen2.5-Coder 0.5B + 1.5B) are the easy case and take no text catch-up at all: the chosen token
is a token of every member, so each member that is up to date is fed it (its own top token when it
agreed, else its spelling of the entry) and the members' ids stay one stream, as in plain token-space
averaging. No member re-encodes a tail, and no forward grows past one token per row. The union itself
is built once for the shared tokenizer (``vocab.union``).

A method may settle a greedy step without scoring the whole union (``candidates``: ``union``
scores its members' top tokens exactly and bounds every other entry); rows it cannot settle take the
full ``merge``. Members' distributions (``MemberDist``) are computed only as far as the step needs.

Ties in greedy choice go to an entry a voting member put first (first member first), else to the
lowest entry (the first member's lowest token id). Special tokens never enter the text: every
member's end-of-sequence ids share one ``end`` entry (choosing it stops the example), and other
special tokens (chat markers, ``<unusedN>``) are never chosen: they stand for no text and a member
without them could not follow. (So a model that would emit such a token alone differs there from
itself ensembled; it would otherwise spell the marker out into its text.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from ..core.components import Aggregator, ComponentConfig, EnsembleContext, Member, Problem
from ..core.pool import default_pool, spec_key
from ..core.types import Example, Result
from ..errors import RecipeError, UsageError
from .token_stepping import Candidates, StepInput, _emit, _result, _Row, _row_generator, _Stepper

if TYPE_CHECKING:  # torch is imported where a batch is really stepped, so registering these stays cheap
    import torch

    from ..generators.hf_session import HFSessionBatch
    from ..vocab.union import UnionVocab

class SpeculateConfig(ComponentConfig):
    """Speculative stepping (``speculative.py``): one member drafts, the others verify in one forward."""

    proposer: str = Field(description="the member that drafts tokens (must have a weight > 0)")
    max_draft: int = Field(4, ge=1, le=32, description="most tokens drafted per round")
    adaptive: bool = Field(True, description="adapt each row's draft length to its measured acceptance rate")


class TokenLevelConfig(ComponentConfig):
    weights: dict[str, float] | Literal["uniform"] = Field(
        "uniform", description="per-member weight ({smol: 0.6, gemma: 0.4}) or 'uniform'"
    )
    primary: str | None = Field(None, description="gate mode: the member that decides alone when it is sure")
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="gate mode: the primary decides alone when its top probability exceeds this"
    )

    gate_sub_batch: bool = Field(
        False, description="gate mode: run another member's forward only for the rows that need it (default: for "
        "the whole batch whenever any row needs it, faster on CPU so far)"
    )
    speculate: SpeculateConfig | None = Field(
        None, description="speculative mode: {proposer: <member>, max_draft: 4, adaptive: true}; the same greedy "
        "decisions as without (exact in float32; bf16 near-ties can flip)"
    )

    @model_validator(mode="after")
    def _gate_pair(self) -> TokenLevelConfig:
        if (self.primary is None) != (self.threshold is None):
            raise ValueError("gate mode needs both 'primary' and 'threshold'")
        if self.speculate is not None and self.primary is not None:
            raise ValueError("'speculate' cannot be combined with gate mode ('primary'/'threshold')")
        if isinstance(self.weights, dict) and any(w < 0 for w in self.weights.values()):
            raise ValueError("weights must be >= 0")
        return self


class TokenLevelAggregator(Aggregator):
    """Base of the token-level methods; subclasses say how member distributions become union scores."""

    Config = TokenLevelConfig
    config: TokenLevelConfig

    def merge(self, step: StepInput) -> torch.Tensor:
        """Scores ``[rows, len(union)]`` (higher is better); -1 marks an entry that is not a candidate."""
        raise NotImplementedError

    def candidates(self, step: StepInput) -> Candidates | None:
        """For a greedy step: the few entries that can win, scored exactly as ``merge`` would, with a
        bound on every other entry's score; None when the method has no such shortcut."""
        return None

    @classmethod
    def recipe_problems(cls, config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
        """``weights`` and ``primary`` name models of the recipe (caught at ``recipes validate``, not mid-run)."""
        assert isinstance(config, TokenLevelConfig)
        problems = []
        if config.primary is not None and config.primary not in models:
            problems.append(Problem("primary", f"{config.primary!r} is not a model of this recipe"))
        spec = config.speculate
        if spec is not None and spec.proposer not in models:
            problems.append(Problem("speculate.proposer", f"{spec.proposer!r} is not a model of this recipe"))
        elif spec is not None and isinstance(config.weights, dict) and config.weights.get(spec.proposer, 1.0) <= 0:
            problems.append(Problem("speculate.proposer", f"{spec.proposer!r} has weight 0: it would not vote"))
        if isinstance(config.weights, dict):
            for name in config.weights:
                if name not in models:
                    problems.append(Problem(f"weights.{name}", f"{name!r} is not a model of this recipe"))
            missing = [n for n in models if n not in config.weights]
            if missing:
                problems.append(Problem("weights", f"no weight for {', '.join(missing)}"))
            elif sum(config.weights.values()) <= 0:
                problems.append(Problem("weights", "at least one weight must be > 0"))
        return problems

    # ------------------------------------------------------------------ setup
    def _weights(self, members: Sequence[Member]) -> list[float]:
        names = [m.name for m in members]
        cfg = self.config
        if cfg.primary is not None and cfg.primary not in names:
            raise RecipeError(f"aggregator.params.primary: '{cfg.primary}' is not a member ({', '.join(names)})")
        if cfg.speculate is not None and cfg.speculate.proposer not in names:
            raise RecipeError(f"aggregator.params.speculate.proposer: '{cfg.speculate.proposer}' is not a member "
                              f"({', '.join(names)})")
        if cfg.weights == "uniform":
            return [1.0 / len(members)] * len(members)
        missing = [n for n in names if n not in cfg.weights]
        if missing:
            raise RecipeError(f"aggregator.params.weights: no weight for {', '.join(missing)}")
        w = [float(cfg.weights[n]) for n in names]
        if sum(w) <= 0:
            raise RecipeError("aggregator.params.weights: at least one weight must be > 0")
        if cfg.speculate is not None and w[names.index(cfg.speculate.proposer)] <= 0:
            raise RecipeError(f"aggregator.params.speculate.proposer: '{cfg.speculate.proposer}' has weight 0 "
                              "(a proposer must vote)")
        return w

    def _union(self, members: Sequence[Member]) -> UnionVocab:
        from ..vocab.union import union_vocab

        gens = [m.generator for m in members]
        for m, g in zip(members, gens, strict=True):
            if not hasattr(g, "loaded") or not hasattr(g, "tokenizer"):
                raise UsageError(f"token-level ensembling needs token access; member '{m.name}' does not give it")
        loaded = [g.loaded for g in gens]  # type: ignore[attr-defined]
        widths = [int(lm.model.get_output_embeddings().weight.shape[0]) for lm in loaded]
        key = "union-vocab:" + "|".join(spec_key(type(g).__name__, g.config) for g in gens)
        pool = self.pool or default_pool()
        tokenizers, eos = [lm.tokenizer for lm in loaded], [lm.eos_ids for lm in loaded]
        return pool.get(key, lambda: union_vocab(tokenizers, eos, widths))

    # ------------------------------------------------------------------ run
    def run(self, examples: Sequence[Example], ctx: EnsembleContext) -> list[Result]:
        examples = list(examples)
        members = ctx.members
        settings = ctx.settings
        weights = self._weights(members)
        mixture = getattr(self.config, "mode", "average") == "mixture"
        if mixture and settings.temperature <= 0.0:
            raise RecipeError(
                "generation.temperature: aggregator.params.mode 'mixture' samples (it draws a member by weight, "
                "then a token from it), so it needs temperature > 0; greedy argmax of the mixture is not the argmax "
                "of one drawn member: use mode 'average' (the default) for greedy decoding"
            )
        union = self._union(members)
        primary = [m.name for m in members].index(self.config.primary) if self.config.primary else None
        sessions: list[HFSessionBatch] = [
            m.generator.open(examples, settings, salt=m.name) for m in members  # type: ignore[misc]
        ]
        states = [
            _Row(ex, i, _row_generator(settings, ex), sessions[0].prompt_length(i), wins=[0] * len(members))
            for i, ex in enumerate(examples)
        ]
        rows = list(states)  # the live rows, aligned with the sessions' rows
        fed = [[0] * len(rows) for _ in members]  # bytes of ``out`` each member's ids cover, per live row
        if self.config.speculate is not None:
            from .speculative import SpeculativeStepper

            stepper: _Stepper = SpeculativeStepper(self, union, members, sessions, weights, primary, settings, ctx)
        elif mixture:
            from .mixture import MixtureStepper

            stepper = MixtureStepper(self, union, members, sessions, weights, primary, settings, ctx)
        else:
            stepper = _Stepper(self, union, members, sessions, weights, primary, settings, ctx)
        while rows:
            stepper.step(rows, fed)
            keep = [i for i, st in enumerate(rows) if st.finish is None]
            for st in rows:
                ctx.progress(st.index, st.steps, st.steps)
                if st.finish is not None:
                    _emit(ctx, st, settings, final=True)
            if len(keep) != len(rows):
                for s in sessions:
                    s.retain(keep)
                rows = [rows[i] for i in keep]
                fed = [[f[i] for i in keep] for f in fed]
        return [_result(st, members, self.config.primary is not None, self.config.speculate is not None, mixture)
                for st in states]
