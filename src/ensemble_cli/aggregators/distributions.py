"""One member's next-token distribution for one step, computed only as far as a method needs it.

A token-level step used to turn every member's logits into full probabilities (a softmax over up to
262k tokens per row) and lay them out over the whole union vocabulary, though a greedy step only
needs the few entries that can win. ``MemberDist`` keeps the logits and the per-row log-normaliser
and gives probabilities on demand: at a handful of ids (``gather``), the top ``k``, the peak, or, only
when a method really needs every entry (sampling, a step the greedy shortcut cannot settle), the
full softmax.

Probabilities at ids are ``exp(logit - logsumexp)``, the full ones ``softmax``: the two agree to
float rounding and both are monotone in the logits, so a member ensembled with itself ranks entries
exactly as it ranks its own tokens on either path.
"""

from __future__ import annotations

import torch


class MemberDist:
    """Probabilities of one member's next token, ``[rows, vocab]``, from float32 logits."""

    def __init__(self, logits: torch.Tensor, lse: torch.Tensor | None = None) -> None:
        self.logits = logits
        self._lse = lse
        self._probs: torch.Tensor | None = None

    @property
    def dtype(self) -> torch.dtype:
        return self.logits.dtype

    @property
    def shape(self) -> torch.Size:
        return self.logits.shape

    @property
    def lse(self) -> torch.Tensor:
        """``[rows]`` log of each row's normaliser."""
        if self._lse is None:
            self._lse = torch.logsumexp(self.logits, dim=-1)
        return self._lse

    @property
    def probs(self) -> torch.Tensor:
        """The full probabilities ``[rows, vocab]`` (computed once, on first use)."""
        if self._probs is None:
            self._probs = torch.softmax(self.logits, dim=-1)
        return self._probs

    def gather(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """Probabilities at ``index`` (``[rows, n]`` token ids), like ``probs.gather(1, index)``."""
        if dim != 1:
            raise ValueError("MemberDist.gather works along the vocabulary (dim 1)")
        if self._probs is not None:
            return self._probs.gather(1, index)
        return (self.logits.gather(1, index) - self.lse[:, None]).exp()

    def topk(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` most likely tokens per row: (probabilities, ids), most likely first."""
        values, ids = self.logits.topk(min(k, self.logits.shape[1]), dim=-1)
        return (values - self.lse[:, None]).exp(), ids

    def peak(self, top: torch.Tensor) -> torch.Tensor:
        """``[rows]`` probability of each row's most likely token (``top``: its id per row)."""
        return self.gather(1, top[:, None])[:, 0]

    def rows(self, index: torch.Tensor | slice) -> MemberDist:
        """The same distributions for a subset of rows."""
        sub = MemberDist(self.logits[index], None if self._lse is None else self._lse[index])
        if self._probs is not None:
            sub._probs = self._probs[index]
        return sub
