"""Scoring candidates under a member's model: the shared part of ``logprob`` and ``self-certainty``.

``under`` picks whose model judges a candidate:

- ``writer``: the member that wrote it (``Candidate.member``);
- ``all``: every member of the recipe, the per-member scores averaged;
- any member's name: that member, whoever wrote the candidate (one yardstick for all candidates,
  so scores of different writers are comparable).

The candidate's text is teacher-forced after the member's own chat-templated prompt plus the
candidate's prefix (``Generator.continuation_item`` + ``score_tokens``), batched per member. Members
come from ``Scorer.bind`` (the pipeline binds the recipe's members); a name that is not a member is
a ``UsageError`` at bind time, before any model loads. A member whose backend cannot score given
tokens raises ``UnsupportedError``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import Field

from ..core.components import Candidate, ComponentConfig, Member, Scorer
from ..core.types import TokenScores
from ..errors import Problem, UsageError

UNDER_HELP = "'writer' (the candidate's own model), 'all' (mean over all members) or a member's name"


class UnderConfig(ComponentConfig):
    under: str = Field("writer", min_length=1, description=UNDER_HELP)


def under_problems(config: ComponentConfig, models: Sequence[str]) -> list[Problem]:
    """Recipe cross-check: ``under`` names a model of the recipe (or ``writer`` / ``all``)."""
    under = getattr(config, "under", "writer")
    if under in ("writer", "all") or under in models:
        return []
    return [Problem("under", f"{under!r} is not a model of this recipe ({', '.join(models)}), 'writer' or 'all'")]


def check_under(scorer: str, under: str, members: Sequence[Member]) -> None:
    names = [m.name for m in members]
    if under not in ("writer", "all") and under not in names:
        raise UsageError(f"scorer {scorer!r}: under={under!r} is not a member (members: {', '.join(names)})")


def token_scores(
    candidates: Sequence[Candidate], member: Member, *, top_k: int = 0
) -> list[TokenScores]:
    """Teacher-forced scores of each candidate's text under ``member``'s model (one batched call)."""
    gen = member.generator
    items = [gen.continuation_item(c.example, c.prefix, c.segment.text) for c in candidates]
    return gen.score_tokens(items, top_k=top_k)


def score_under(
    scorer: Scorer, under: str, candidates: Sequence[Candidate], reduce: Callable[[TokenScores], float]
) -> list[float]:
    """``reduce(token_scores)`` per candidate under the member(s) ``under`` names (see the module doc)."""
    if not candidates:
        return []
    members = list(scorer.members)
    if not members:
        raise UsageError(f"scorer {type(scorer).__name__} scores under members, but none were bound (Scorer.bind)")
    check_under(type(scorer).__name__, under, members)
    by_name = {m.name: m for m in members}
    if under == "all":
        per_member = [[reduce(ts) for ts in token_scores(candidates, m)] for m in members]
        return [sum(col) / len(col) for col in zip(*per_member, strict=True)]
    if under != "writer":
        return [reduce(ts) for ts in token_scores(candidates, by_name[under])]
    scores = [0.0] * len(candidates)
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(candidates):
        groups.setdefault(c.member, []).append(i)
    for name, idx in groups.items():
        if name not in by_name:
            raise UsageError(f"candidate written by {name!r}, which is not a bound member")
        for i, ts in zip(idx, token_scores([candidates[i] for i in idx], by_name[name]), strict=True):
            scores[i] = reduce(ts)
    return scores
