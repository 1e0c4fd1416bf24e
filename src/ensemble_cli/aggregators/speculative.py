"""Speculative token-level stepping (``speculate:`` of ``union`` and ``topk-union``): the same decisions,
fewer forwards (exact in float32; in bf16 a multi-token check rounds differently, so near-ties can flip).

Plain stepping (``token_level``) runs every member once per written token. Here a *round* replaces up
to ``max_draft`` steps (after Speculative Ensemble / CoS, arXiv 2502.01662):

1. Every voting member catches up from text exactly as a plain step would.
2. The proposer drafts ``k`` tokens alone (greedy: its argmax; sampling: from its own tempered, top-p
   distribution), one forward per token. Its distribution at each drafted position is its vote there.
3. Every other voting member is fed *its own* token for each drafted entry (``UnionVocab`` ``preferred``:
   the token a unanimous plain step would feed it) and scores them all in one forward
   (``HFSessionBatch.span_logits``): its distributions at the proposer's token boundaries. A drafted
   entry another member cannot spell as one token ends the verifiable span there (a plain step that
   wrote it would send that member to catch up from text, which a draft cannot foresee).
4. Position by position, the ordinary merge and choice (``_Stepper._decide``) write the entry, exactly
   as a plain step would. A position is *clean* when every voter ends it holding exactly the drafted
   token it was fed, and the row goes on: either the plain step feeds it that token (all voters' first
   choices were the drafted entry), or the drafted entry won a disagreement and the plain step leaves
   the voter to re-read the piece from text, which here is checked without running it
   (``HFSessionBatch.appended_ids``): when the re-read gives the very drafted token, the member is
   where plain stepping would leave it (``summary.speculation.continued_past_disagreement`` counts
   these). The first position that is not clean (a drafted entry that lost the merge, a re-read
   that splits the piece otherwise, an end, a stop string, the length limit) is
   still written by the merge, with every member's stream first rolled back to where the plain step
   would find it (``HFSessionBatch.truncate``: the drafted tokens after it become a stale cache tail
   the next forward drops). So each member's ids, KV cache, and the text, attribution and scores
   end exactly as plain stepping leaves them (up to the float rounding of a multi-token forward).

Greedy: each position's choice is plain stepping's choice (same ties, same shortcut). Sampling: a
drafted entry ``x`` is accepted with probability ``min(1, q(x)/p(x))`` (``q``: the merged distribution
the plain step samples from; ``p``: the proposer's drafting distribution mapped onto the union), else
an entry is drawn from ``max(0, q - p)`` renormalised, so every written entry has exactly the plain
step's distribution; the row goes on only from a clean position.

Rows advance by different amounts per round; each row's draft length adapts (``adaptive``) to its
measured acceptance rate ``a`` (a running average): ``round(a / (1 - a)) + 1``, the expected run of
accepted tokens plus one, within ``1..max_draft``. Drafted tokens that never became output are counted
in ``usage.generated_tokens``; ``summary.speculation`` gives rounds, drafted, accepted, the rate and the
mean draft length. Gate mode is not combined with speculation (the config says so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.sampling import draw
from .token_stepping import _inference_mode, _Row, _Stepper

if TYPE_CHECKING:
    import torch

    from .distributions import MemberDist

EMA = 0.5  #: weight of the latest round in a row's running acceptance rate


class SpeculativeStepper(_Stepper):
    """``_Stepper`` whose ``step`` is one speculative round per row (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        spec = self.method.config.speculate
        assert spec is not None
        self.spec = spec
        self.proposer = [m.name for m in self.members].index(spec.proposer)
        self.voters = [m for m in range(len(self.members)) if self.weights[m] > 0]
        # per row, while a position is decided: (drafted entry, proposer's token probabilities or None)
        self._proposal: dict[int, tuple[int, torch.Tensor | None]] = {}
        self._chosen: dict[int, int] = {}

    # ------------------------------------------------------------------ drafting
    def _draft_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """The proposer's sampling distribution over its tokens (temperature, then top-p)."""
        import torch

        s = self.settings
        probs = torch.softmax(logits / s.temperature, dim=-1)
        if s.top_p < 1.0:
            sorted_p, order = probs.sort(descending=True)
            keep = sorted_p.cumsum(0) - sorted_p < s.top_p
            keep[0] = True
            probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_p[keep])
            probs = probs / probs.sum()
        return probs

    def _draft(self, rows: list[_Row], live: list[bool],
               budget: list[int]) -> tuple[list[list[int]], list[Any], list[MemberDist]]:
        """The proposer drafts up to ``budget[r]`` tokens per row; returns (tokens, sampling probs, dists).

        ``budget`` is lowered in place where a row's draft ends early (an entry that can never be
        written, or the end). The proposer is fed every drafted token but each row's last.
        """

        from ..vocab.union import END
        from .distributions import MemberDist

        u, session = self.union, self.sessions[self.proposer]
        entry_of = u.members[self.proposer].token_entry
        n = len(rows)
        drafts: list[list[int]] = [[] for _ in rows]
        probs: list[list[torch.Tensor | None]] = [[] for _ in rows]
        dists: list[MemberDist] = []
        i = 0
        while i < max(budget, default=0):
            dist = MemberDist(session.next_logits().float())
            dists.append(dist)
            greedy = dist.logits.argmax(dim=-1).tolist()
            feed: list[list[int] | None] = [None] * n
            for r, st in enumerate(rows):
                if not live[r] or i >= budget[r]:
                    continue
                if self.settings.temperature > 0.0:
                    p = self._draft_probs(dist.logits[r])
                    tok = draw(p, st.generator)
                    probs[r].append(p)
                else:
                    tok = greedy[r]
                    probs[r].append(None)
                drafts[r].append(tok)
                e = int(entry_of[tok])
                if e < 0 or bool(self.blocked_ext[e]) or int(u.kinds[e]) == END:
                    budget[r] = i + 1  # nothing can follow it
                if i + 1 < budget[r]:
                    feed[r] = [tok]
            i += 1
            if i < max(budget) and any(feed):
                session.feed(feed, [None] * n)
        return drafts, probs, dists

    # ------------------------------------------------------------------ one round
    @_inference_mode
    def step(self, rows: list[_Row], fed: list[list[int]]) -> None:
        import torch

        from .distributions import MemberDist

        n_members, n = len(self.members), len(rows)
        live, able = self._live_and_able(rows, fed)
        if not any(live):
            return
        for m in self.voters:
            self._catch_up(m, rows, fed, able[m])
        pre = [[len(self.sessions[m].token_ids(r)) for r in range(n)] for m in range(n_members)]
        base_text = [[self.sessions[m].text(r) for r in range(n)] for m in range(n_members)]
        # a row drafts past one token only while every voter can follow it now (no character half-written
        # by others); otherwise its round is one plain step
        budget = []
        for r, st in enumerate(rows):
            if not st.draft_len:
                st.draft_len = self.spec.max_draft
            full = all(able[m][r] for m in self.voters)
            budget.append(0 if not live[r] else
                          max(1, min(st.draft_len if full else 1, self.settings.max_tokens - st.steps)))
        drafts, probs, p_dists = self._draft(rows, live, budget)
        entries = [[int(self.union.members[self.proposer].token_entry[t]) for t in d] for d in drafts]
        # the others' own tokens for the drafted entries; the span each row can verify
        usable = list(budget)
        spec = {self.proposer: [d[: max(0, b - 1)] for d, b in zip(drafts, budget, strict=True)]}
        others = [m for m in self.voters if m != self.proposer]
        for m in others:
            pref = self.union.members[m].preferred
            for r in range(n):
                for i in range(budget[r] - 1):
                    if int(pref[entries[r][i]]) < 0:
                        usable[r] = min(usable[r], i + 1)
                        break
        logits: dict[int, torch.Tensor] = {self.proposer: torch.stack([d.logits for d in p_dists], dim=1)}
        for m in others:
            pref = self.union.members[m].preferred
            spec[m] = [[int(pref[e]) for e in entries[r][: max(0, usable[r] - 1)]] for r in range(n)]
            self.sessions[m].feed([s or None for s in spec[m]], [None] * n)
            logits[m] = self.sessions[m].span_logits([max(1, usable[r]) for r in range(n)]).float()
        # decide position by position, each row as far as its positions are clean
        going = [live[r] and usable[r] > 0 for r in range(n)]
        text_before = [st.text for st in rows]
        accepted = [0] * n
        i = 0
        while any(going):
            cur = list(going)
            dists: list[MemberDist | None] = [None] * n_members
            top: list[list[int] | None] = [None] * n_members
            for m in self.voters:
                width = logits[m].shape[1]
                # rows whose span is shorter sit this position out (weight 0): any column will do
                dists[m] = MemberDist(logits[m][:, min(i, width - 1)].contiguous())
                top[m] = dists[m].logits.argmax(dim=-1).tolist()
            step_able = able if i == 0 else [[cur[r] and m in self.voters for r in range(n)]
                                             for m in range(n_members)]
            self._proposal = {r: (entries[r][i], probs[r][i]) for r in range(n) if cur[r]}
            self._chosen = {}
            plans = self._decide(rows, cur, step_able, dists, top, [False] * n, fed)
            non_voters = [m for m in range(n_members) if m not in self.voters]
            for r, st in enumerate(rows):
                if not cur[r]:
                    continue
                plan = plans[r]
                hit = self._chosen.get(r) == entries[r][i]
                accepted[r] += int(hit)
                clean = (hit and plan is not None and st.finish is None and i + 1 < usable[r]
                         and self._follows(plan, r, i, spec, pre, text_before[r], st, fed))
                if clean:
                    assert plan is not None
                    if non_voters:  # members that never run (weight 0) take what a plain step feeds them
                        self._feed(plan[0], r, plan[1], only=non_voters)
                    text_before[r] = st.text
                    continue
                going[r] = False
                for m in self.voters:  # back to where the plain step finds each stream
                    self.sessions[m].truncate(r, pre[m][r] + i, base_text[m][r] if i == 0 else text_before[r])
                if plan is not None:
                    self._feed(plan[0], r, plan[1])
            i += 1
        self._proposal = {}
        for r, st in enumerate(rows):
            if not live[r] or not drafts[r]:
                continue
            drafted = len(drafts[r])
            st.rounds += 1
            st.drafted += drafted
            st.accepted += accepted[r]
            if self.spec.adaptive:
                st.acceptance = (1 - EMA) * st.acceptance + EMA * accepted[r] / drafted
                a = min(st.acceptance, 0.95)
                st.draft_len = max(1, min(self.spec.max_draft, round(a / (1 - a)) + 1))

    def _follows(self, plan: Any, r: int, i: int, spec: dict[int, list[list[int]]], pre: list[list[int]],
                 before: str, st: _Row, fed: list[list[int]]) -> bool:
        """Whether every voter ends drafted position ``i`` of row ``r`` holding exactly its drafted token.

        A voter the plain step feeds that token follows. One it leaves behind (a disagreement: it
        re-reads the written piece from text before its next forward) follows too when that re-read
        gives the very token it was fed for the draft (``HFSessionBatch.appended_ids``: no other split
        of the piece, no change to its tail); it is then marked as having read the piece, which is
        where the plain step's catch-up would leave it. Otherwise the round must end here.
        """
        ids = plan[0]
        behind = []
        for m in self.voters:
            want = [spec[m][r][i]]
            if ids[m][r] == want:
                continue
            if ids[m][r] is not None or st.pending:
                return False
            behind.append(m)
        for m in behind:
            session, n_ids, tok = self.sessions[m], pre[m][r] + i, spec[m][r][i]
            if session.appended_ids(r, n_ids, before, st.text[len(before):]) != session.token_ids(r)[:n_ids] + [tok]:
                return False
        for m in behind:
            ids[m][r] = [spec[m][r][i]]
            fed[m][r] = len(st.out)
        st.continued += int(bool(behind))
        return True

    def _pick(self, r: int, st: _Row, row: Any, firsts: list[int]) -> tuple[int, float]:
        """Greedy: the plain choice. Sampling: the speculative acceptance rule against the drafted entry."""
        import torch

        prop = self._proposal.get(r)
        if prop is None or prop[1] is None or isinstance(row, tuple):
            e, score = super()._pick(r, st, row, firsts)
            self._chosen[r] = e
            return e, score
        x, p_tokens = prop
        q = self._sampling_probs(row)
        if q is None:
            e = int(row.argmax())
        else:
            q = q / q.sum()
            entry_of = self.union.members[self.proposer].token_entry
            ok = entry_of >= 0
            p = torch.zeros(len(self.union)).index_add_(0, entry_of[ok], p_tokens[ok])
            u = float(torch.rand(1, generator=st.generator))
            if x >= 0 and u * float(p[x]) < float(q[x]):
                e = x
            else:
                resid = (q - p).clamp(min=0.0)
                if float(resid.sum()) <= 0.0:
                    resid = q
                e = draw(resid, st.generator)
        self._chosen[r] = e
        return e, float(row[e])
