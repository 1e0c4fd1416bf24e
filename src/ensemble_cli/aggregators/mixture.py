"""Mixture sampling (``mode: mixture`` of sampled ``union``): one member's forward per written token.

Why it is the same distribution (after ME, "Rethinking LLM Ensembling from the Perspective of Mixture
Models", arXiv 2605.00419): sampled ``union`` writes entry ``x`` with probability proportional to
``q(x) = sum_m w_m p_m(x)``, the weighted average of the members' distributions over the union
vocabulary. Drawing a member ``m`` with probability ``w_m / sum(w)`` and then a token from ``p_m`` alone
writes ``x`` with probability ``sum_m (w_m / sum(w)) p_m(x)``: the same distribution, but only the drawn
member runs a forward. Members not drawn skip the step and catch up from text the next time a row
draws them, batched over the rows that drew them (``HFSessionBatch.next_logits(rows=...)``).

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

A member draws its token exactly as it would alone (``HFSessionBatch.sample``: its own seeded stream
per row), and the member draw uses the row's own seeded stream, so a run is reproducible under a
seed and independent of batch composition; with one member of weight 1 the output is that member's
own sampled output, up to where alone it would write what the union never writes (a special token,
a broken character). Attribution names the member whose token was written; ``won_share`` is each member's share of the
written tokens; rejected draws count in ``usage.generated_tokens`` and ``summary.mixture.rejected``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .token_stepping import _inference_mode, _Row, _Stepper

if TYPE_CHECKING:
    import torch

MAX_DRAWS = 64  #: rejected draws in one step before a row falls back to the full merge


class MixtureStepper(_Stepper):
    """``_Stepper`` whose step draws one member per row and lets it write alone (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.voters = [m for m in range(len(self.members)) if self.weights[m] > 0]

    @_inference_mode
    def step(self, rows: list[_Row], fed: list[list[int]]) -> None:
        import torch

        n_members, n = len(self.members), len(rows)
        live, able = self._live_and_able(rows, fed)
        logits: list[torch.Tensor | None] = [None] * n_members  # [rows, vocab] float32; zeros where not run
        ran: list[set[int]] = [set() for _ in range(n_members)]
        written: dict[int, tuple[int, int]] = {}  # row -> (member, token)
        draws = [0] * n
        # a row that ends inside a character takes the plain step (below): drawn members would mostly
        # write something that cannot continue it, and only the members holding it can vote anyway
        merge = [r for r in range(n) if live[r] and rows[r].pending]
        todo = [r for r in range(n) if live[r] and not rows[r].pending]
        while todo:
            pick: dict[int, int] = {}
            for r in todo:
                cands = [m for m in self.voters if able[m][r]]
                if not cands:  # every weighted member waits for a character only others could finish
                    rows[r].finish, rows[r].cause = "stop", "no_voter"
                    continue
                pick[r] = self._draw_member(rows[r], cands)
            for m in sorted(set(pick.values())):
                self._run(m, [r for r, p in pick.items() if p == m and r not in ran[m]], rows, fed, logits, ran)
            for m in sorted(set(pick.values())):
                mine = [r for r, p in pick.items() if p == m]
                lm = logits[m]
                assert lm is not None
                tokens = self.sessions[m].sample(lm[mine], mine, temperature=self.settings.temperature,
                                                 top_p=self.settings.top_p)
                for r, t in zip(mine, tokens, strict=True):
                    if self._accept(rows[r], m, t, lm[r]):
                        written[r] = (m, t)
                    else:
                        rows[r].rejected += 1
                        draws[r] += 1
            merge += [r for r in pick if r not in written and draws[r] >= MAX_DRAWS]
            todo = [r for r in pick if r not in written and draws[r] < MAX_DRAWS]
        for r, (m, t) in sorted(written.items()):
            st = rows[r]
            e = int(self.union.members[m].token_entry[t])
            lm = logits[m]
            assert lm is not None
            score = float((lm[r, t] - torch.logsumexp(lm[r], dim=0)).exp())  # the writer's probability of it
            plan = self._apply(st, r, e, [m], [t], [e], fed, score, False)
            if plan is not None:
                self._feed(plan[0], r, plan[1])
        if merge:
            self._merge_step(sorted(merge), rows, able, fed, logits, ran)

    def _draw_member(self, st: _Row, cands: list[int]) -> int:
        """One of ``cands`` with probability proportional to its weight, from the row's own stream."""
        import torch

        if len(cands) == 1:
            return cands[0]
        w = torch.tensor([self.weights[m] for m in cands], dtype=torch.float64)
        return cands[int(torch.multinomial(w, 1, generator=st.generator).item())]

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
