"""Mixture sampling (``mode: mixture`` of sampled ``union``): one member's forward per written token.

Why it is the same distribution (after ME, "Rethinking LLM Ensembling from the Perspective of Mixture
Models", arXiv 2605.00419): sampled ``union`` writes entry ``x`` with probability proportional to
``q(x) = sum_m w_m p_m(x)``, the weighted average of the members' distributions over the union
vocabulary. Drawing a member ``m`` with probability ``w_m / sum(w)`` and then a token from ``p_m`` alone
writes ``x`` with probability ``sum_m (w_m / sum(w)) p_m(x)``: the same distribution, but only the drawn
member runs a forward. Members not drawn skip the step and catch up from text the next time they run.

In a batch, rows draw different members. Running every drawn member each step would run them all
at batch 8 (some row almost always draws each), and on a CPU a forward over 8 rows costs little more
than over 1 (``benchmarks/forward_cost_by_rows.py``), so nothing would be saved. Instead **one member
runs per step**: the one most rows are waiting for, over the whole batch; the rows that drew it write,
the others keep their draw and wait for their member's turn (``summary.mixture.waited_steps``). A
row's draws and tokens come from its own seeded streams in the same order whenever its turn comes, so
the output does not depend on the batch; rows waiting for a member pile up until it is the most
drawn, so waits stay short.

The union's own rules are kept exactly, by rejection: a draw is written only if it is an entry the plain
step could write (no special token other than the end, nothing past the tokenizer) and, where the
member spells the entry with several tokens (Gemma's ``\\n`` and its byte fallback ``<0x0A>``), with
probability max / sum of those tokens' probabilities, because the union counts a member's most likely
spelling. A rejected draw starts over with a fresh member draw. Every accepted entry then has
probability proportional to ``sum_m w_m p_m(x)`` over the writable entries, which is exactly what
plain sampled ``union`` draws from **at temperature 1 and top_p 1**. A row whose text ends inside a
UTF-8 character (a member wrote half of it as a byte token) takes that step as plain ``union`` does
(the weighted average of the members that hold the half character, over its valid continuations:
the same distribution; usually only the writer can vote there, so it is still one forward), and so
does a row after ``MAX_DRAWS`` rejected draws in one step (``summary.mixture.merged_steps``). Such a
step is attributed as plain ``union`` attributes it (to the members whose first choice it was).

It holds for sampling only. With another temperature or top-p it is an approximation: each member's
distribution is tempered and truncated before mixing (the mixture of tempered members), whereas plain
``union`` tempers and truncates the mixture. Greedy decoding is refused (``generation.temperature: 0``
is an error naming the field): the argmax of the mixture is not the argmax of a member drawn by
weight, which would be one random member's greedy choice.

**Shared draws** (``draws: shared``): rows independent of each other cost a forward per member per
step at batch > 1 (every member is some row's draw, see above). With ``draws: shared`` a row's first
draw for its ``k``-th token comes from a uniform that depends only on the seed and ``k``
(``position_uniform``), so rows at the same position draw the same member (where the same members
can write for them) and one forward writes for the whole batch, as at batch 1. Each row is still an
exact sample of the mixture (its draws at different positions are independent, and redraws after a
rejection come from its own stream); what is lost is independence *between* rows: every row of the
run (any batch) has the same member at position ``k``. A row that falls behind (a rejected draw, a
row that only one member can continue) is served first at the next step where its member differs
from the others', so the batch is back in step after one step (``_first_in_line``). Keep the default
``draws: row`` when rows are compared with each other (several samples of one prompt for
self-consistency or pass@k).

A member draws its token exactly as it would alone (``HFSessionBatch.sample``: its own seeded stream
per row), and the member draw uses the row's own seeded stream, so a run is reproducible under a
seed and independent of batch composition; with one member of weight 1 the output is that member's
own sampled output, up to where alone it would write what the union never writes (a special token,
a broken character). Attribution names the member whose token was written; ``won_share`` is each member's share of the
written tokens; rejected draws count in ``usage.generated_tokens`` and ``summary.mixture.rejected``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from ..core.sampling import draw, pick
from ..core.seeding import row_seed
from .token_stepping import _inference_mode, _Row, _Stepper

if TYPE_CHECKING:
    import torch

MAX_DRAWS = 64  #: rejected draws for one token before a row falls back to the full merge


class MixtureStepper(_Stepper):
    """``_Stepper`` whose step draws one member per row and lets it write alone (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.voters = [m for m in range(len(self.members)) if self.weights[m] > 0]
        self.shared_draws = getattr(self.method.config, "draws", "row") == "shared"
        # unseeded runs are not reproducible anyway: one random base per batch keeps its rows together
        self.draw_seed = self.settings.seed if self.settings.seed is not None else random.getrandbits(62)

    @_inference_mode
    def step(self, rows: list[_Row], fed: list[list[int]]) -> None:
        n_members, n = len(self.members), len(rows)
        live, able = self._live_and_able(rows, fed)
        logits: list[torch.Tensor | None] = [None] * n_members  # [rows, vocab] float32; zeros where not run
        ran: list[set[int]] = [set() for _ in range(n_members)]
        # a row that ends inside a character takes the plain step (below): drawn members would mostly
        # write something that cannot continue it, and only the members holding it can vote anyway
        merge = [r for r in range(n) if live[r] and rows[r].pending]
        for r in range(n):
            st = rows[r]
            if live[r] and not st.pending and st.pick is None and not self._draw(st, able, r):
                st.finish, st.cause = "stop", "no_voter"  # every weighted member waits for a character
        waiting = [r for r in range(n) if live[r] and rows[r].pick is not None]
        if waiting:
            m = self._turn([rows[r].pick for r in self._first_in_line(rows, waiting)])  # type: ignore[misc]
            self._write(m, [r for r in waiting if rows[r].pick == m], rows, fed, able, logits, ran, merge)
            for r in waiting:
                if rows[r].pick is not None and rows[r].pick != m:
                    rows[r].waited += 1
        if merge:
            self._merge_step(sorted(merge), rows, able, fed, logits, ran)

    def _turn(self, picks: list[int]) -> int:
        """The member that runs this step: the one most waiting rows drew (ties: the first member).

        Rows that drew another member wait for its turn, keeping their draw, so a row's draws (and
        so its output) are what they would be alone; rows waiting for a member pile up until it is
        the most drawn, so no row waits for long.
        """
        counts = [0] * len(self.members)
        for m in picks:
            counts[m] += 1
        return max(range(len(counts)), key=lambda m: (counts[m], -m))

    def _first_in_line(self, rows: list[_Row], waiting: list[int]) -> list[int]:
        """The rows whose draws choose this step's member: all of them, or with shared draws the rows
        furthest behind.

        With shared draws a row that fell one token behind (a rejected draw redrawn from its own
        stream, a step it waited) would otherwise stay behind: it needs position ``k``'s member while
        the others need position ``k + 1``'s, so it waits whenever the two differ (half the steps at
        even weights), to the end of the text. Serving the rows furthest behind first puts it back in
        step at the first such difference: the others wait one step, then all rows are at the same
        position and share the draw again. Which rows go first never changes what a row draws or
        writes, only when, so outputs stay batch-independent.
        """
        if not self.shared_draws:
            return waiting
        behind = min(rows[r].steps for r in waiting)
        return [r for r in waiting if rows[r].steps == behind]

    def _write(self, m: int, mine: list[int], rows: list[_Row], fed: list[list[int]], able: list[list[bool]],
               logits: list[torch.Tensor | None], ran: list[set[int]], merge: list[int]) -> None:
        """Member ``m`` runs once (every row it can read catches up) and writes for the rows that drew it.

        A rejected draw is drawn again: a row that draws ``m`` again samples from the same logits at
        once; one that draws another member waits for that member's turn; after ``MAX_DRAWS``
        rejections in one token the row takes the plain step instead (``merge``).
        """
        import torch

        self._run_all(m, rows, fed, able, logits, ran)
        lm = logits[m]
        assert lm is not None
        while mine:
            tokens = self.sessions[m].sample(lm[mine], mine, temperature=self.settings.temperature,
                                             top_p=self.settings.top_p)
            again = []
            for r, t in zip(mine, tokens, strict=True):
                st = rows[r]
                if self._accept(st, m, t, lm[r]):
                    st.pick, st.draws = None, 0
                    e = int(self.union.members[m].token_entry[t])
                    score = float((lm[r, t] - torch.logsumexp(lm[r], dim=0)).exp())  # the writer's probability
                    plan = self._apply(st, r, e, [m], [t], [e], fed, score, False)
                    if plan is not None:
                        self._feed(plan[0], r, plan[1])
                    continue
                st.rejected += 1
                st.draws += 1
                if st.draws >= MAX_DRAWS:
                    st.pick, st.draws = None, 0
                    merge.append(r)
                elif self._draw(st, able, r) and st.pick == m:
                    again.append(r)
            mine = again

    def _draw(self, st: _Row, able: list[list[bool]], r: int) -> bool:
        """Draw the row's next member among the weighted members able to give its next token.

        With ``draws: shared`` the first draw for a position uses the position's shared uniform (rows
        at the same position draw alike); a redraw after a rejection uses the row's own stream.
        """
        cands = [m for m in self.voters if able[m][r]]
        if not cands:
            st.pick = None
            return False
        if self.shared_draws and st.draws == 0:
            st.pick = self._member_at(cands, position_uniform(self.draw_seed, st.steps))
        else:
            st.pick = self._draw_member(st, cands)
        return True

    def _member_at(self, cands: list[int], u: float) -> int:
        """The member of ``cands`` whose share of their summed weight covers ``u`` (inverse CDF)."""
        import torch

        return cands[pick(torch.tensor([self.weights[m] for m in cands], dtype=torch.float64), u)]

    def _run_all(self, m: int, rows: list[_Row], fed: list[list[int]], able: list[list[bool]],
                 logits: list[torch.Tensor | None], ran: list[set[int]]) -> None:
        """Member ``m``'s forward over the whole batch, every row it can read caught up first.

        The whole batch, not just the rows that drew it: on a CPU a forward's cost hardly depends on
        its rows (``benchmarks/forward_cost_by_rows.py``), while a sub-batch copies the rows' caches out
        and back; and rows kept up to date catch up in short chunks.
        """
        self._catch_up(m, rows, fed, able[m])
        logits[m] = self.sessions[m].next_logits().float()
        ran[m].update(range(len(rows)))

    def _draw_member(self, st: _Row, cands: list[int]) -> int:
        """One of ``cands`` with probability proportional to its weight, from the row's own stream."""
        import torch

        if len(cands) == 1:
            return cands[0]
        w = torch.tensor([self.weights[m] for m in cands], dtype=torch.float64)
        return cands[draw(w, st.generator)]

    def _run(self, m: int, need: list[int], rows: list[_Row], fed: list[list[int]],
             logits: list[torch.Tensor | None], ran: list[set[int]]) -> None:
        """Member ``m``'s forward over the rows in ``need`` only, after their catch-up from text."""
        import torch

        if not need:
            return
        need = sorted(need)
        self._catch_up(m, rows, fed, [r in need for r in range(len(rows))])
        sub = self.sessions[m].next_logits(rows=need).float()
        if logits[m] is None:
            logits[m] = sub.new_zeros((len(rows), sub.shape[1]))
        logits[m][torch.tensor(need, dtype=torch.long)] = sub  # type: ignore[index]
        ran[m].update(need)

    def _accept(self, st: _Row, m: int, t: int, row_logits: torch.Tensor) -> bool:
        """Whether member ``m``'s draw ``t`` is written (the rejection rules of the module docstring)."""
        import torch

        u = self.union
        e = int(u.members[m].token_entry[t])
        if e < 0 or bool(self.blocked_ext[e]):
            return False
        spellings = u.spellings(m)[:, e]
        spellings = spellings[spellings >= 0]
        if spellings.numel() <= 1:
            return True
        # the member's sampling distribution at its spellings of ``e``: keep with probability max / sum
        p = torch.softmax(row_logits / self.settings.temperature, dim=-1)
        if self.settings.top_p < 1.0:
            sorted_p, order = p.sort(descending=True)
            keep = sorted_p.cumsum(0) - sorted_p < self.settings.top_p
            keep[0] = True
            p = torch.zeros_like(p).scatter_(0, order[keep], sorted_p[keep])
        at = p[spellings]
        total = float(at.sum())
        return total > 0.0 and float(torch.rand(1, generator=st.generator)) * total < float(at.max())

    def _merge_step(self, merge: list[int], rows: list[_Row], able: list[list[bool]], fed: list[list[int]],
                    logits: list[torch.Tensor | None], ran: list[set[int]]) -> None:
        """The plain (average) step for rows whose draws kept being rejected: every able member votes."""
        from .distributions import MemberDist

        n = len(rows)
        for m in self.voters:
            self._run(m, [r for r in merge if able[m][r] and r not in ran[m]], rows, fed, logits, ran)
        sel = [r in merge for r in range(n)]
        voting = [[sel[r] and able[m][r] and m in self.voters for r in range(n)] for m in range(len(self.members))]
        dists = [None if lm is None else MemberDist(lm) for lm in logits]
        top = [None if d is None else d.logits.argmax(dim=-1).tolist() for d in dists]
        for r in merge:
            rows[r].merged += 1
        for r, plan in enumerate(self._decide(rows, sel, voting, dists, top, [False] * n, fed)):
            if plan is not None:
                self._feed(plan[0], r, plan[1])


def position_uniform(seed: int, position: int) -> float:
    """A uniform in [0, 1) fixed by the seed and a token position alone (``draws: shared``)."""
    value = row_seed(seed, "mixture-draw", str(position))
    assert value is not None
    return value / float(1 << 63)
