"""Incremental, batched generator sessions over a transformers causal LM.

One ``HFSessionBatch`` holds one model's sessions for a batch of examples: each row's own token ids
of the shared text and one batched KV cache. The cache is kept *right-aligned* (rows are
left-padded) and *compact*: no forward pass ever runs over a hole in the middle of a row. That
matters for two reasons: a batched row then computes exactly what it would alone (the same positions
and the same keys, so batched output equals unbatched output), and Gemma-3's sliding-window layers,
whose window transformers measures in cache indices, see exactly the same window as unbatched
generation. To get there:

* The cache is a ``DynamicCache`` *without* a config, so every layer keeps all its keys; the sliding
  window is applied by the attention mask alone. (With the config, transformers would keep only the
  last ``sliding_window`` keys of those layers, and a rolled-back candidate could push real context
  out of a row's window.)
* Every change of a row's token stream (a rejected candidate, appended text, a re-encoded tail) only
  moves a per-row "valid prefix" mark. The next forward first drops each row's stale tail with one
  gather per layer (rows shift right by different amounts), then feeds all rows' pending tokens as
  one right-padded chunk, then drops the chunk's right padding the same way.
* At least one token is always left pending, so that forward also yields each row's next-token
  logits; no logits are kept between calls.

Appending foreign text re-encodes only a bounded tail: the last ``tail_tokens`` tokens of the row
(default 4) plus the new text are tokenized together, and only the tokens that differ from the
current stream are fed. So work per append is at most ``tail_tokens`` + the new text's tokens,
whatever the length of the context; if a tokenizer is not prefix-stable over that tail (it cannot
decode the head back to a prefix of the text) the tail doubles until it is, which is counted in
``stats.encoded_tokens``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.invariance import single_threaded_if_invariant
from ..core.sampling import draw
from ..core.sessions import SessionBatch, SessionStats
from ..core.types import Segment
from ..errors import GenerationError
from .hf_invariant import invariant_forward

REPLACEMENT_CHAR = "\ufffd"


@dataclass
class _Row:
    ids: list[int]  # prompt + continuation token ids
    prompt_len: int
    text: str = ""  # continuation text (the shared text after the prompt)
    cached: int = 0  # leading ids whose keys/values in the cache are valid
    occupied: int = 0  # cache columns this row occupies (cached + stale tail)
    generator: torch.Generator | None = None
    last_segment: list[int] = field(default_factory=list)  # ids of the last generate, for rollback
    last_segment_text: str = ""


class HFSessionBatch(SessionBatch):
    """Sessions of one transformers model over a batch of examples (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompt_ids: Sequence[list[int]],
        *,
        eos_ids: set[int],
        pad_id: int,
        seeds: Sequence[int | None] | None = None,
        tail_tokens: int = 4,
        max_context: int | None = None,
        batch_invariant: bool = False,
    ) -> None:
        self.model = model
        self.batch_invariant = batch_invariant
        self.tokenizer = tokenizer
        self.eos_ids = set(eos_ids)
        self.pad_id = pad_id
        self.tail_tokens = max(1, tail_tokens)
        self.max_context = max_context
        self.device = next(model.parameters()).device
        self.stats = SessionStats()
        seeds = list(seeds) if seeds is not None else [None] * len(prompt_ids)
        self.rows: list[_Row] = []
        for ids, seed in zip(prompt_ids, seeds, strict=True):
            if not ids:
                raise GenerationError("empty prompt: the chat template produced no tokens")
            gen = None
            if seed is not None:
                gen = torch.Generator(device="cpu")
                gen.manual_seed(seed)
            self.rows.append(_Row(ids=list(ids), prompt_len=len(ids), generator=gen))
            self.stats.prompt_tokens += len(ids)
        from transformers import DynamicCache

        self.cache = DynamicCache()
        self.width = 0  # cache columns
        self._prefix_adds = _fragment_prefix(tokenizer)

    # ----------------------------------------------------------------- contract
    def __len__(self) -> int:
        return len(self.rows)

    def prompt_length(self, row: int) -> int:
        return self.rows[row].prompt_len

    def text(self, row: int) -> str:
        return self.rows[row].text

    def token_ids(self, row: int) -> list[int]:
        """The row's whole token stream (prompt and continuation)."""
        return list(self.rows[row].ids)

    @single_threaded_if_invariant
    def append(self, texts: Sequence[str | None]) -> None:
        if len(texts) != len(self.rows):
            raise ValueError(f"append got {len(texts)} texts for {len(self.rows)} rows")
        for row, new in zip(self.rows, texts, strict=True):
            if new:
                self._append_row(row, new)

    def rollback(self, row: int, n_tokens: int) -> None:
        r = self.rows[row]
        if n_tokens <= 0:
            return
        if n_tokens > len(r.last_segment):
            raise ValueError(
                f"rollback of {n_tokens} tokens but the last generate wrote {len(r.last_segment)} for row {row}"
            )
        keep = r.last_segment[: len(r.last_segment) - n_tokens]
        base_text = r.text[: len(r.text) - len(r.last_segment_text)]
        del r.ids[len(r.ids) - n_tokens :]
        r.cached = min(r.cached, len(r.ids))
        kept_text = self._decode_continuation(r.ids[: len(r.ids) - len(keep)], keep) if keep else ""
        r.text = base_text + kept_text
        r.last_segment = keep
        r.last_segment_text = kept_text

    def truncate(self, row: int, n_ids: int, text: str) -> None:
        """Cut row ``row``'s stream back to its first ``n_ids`` ids, which spell ``text`` (the caller's
        word: a speculative ensemble rolling back drafted tokens it did not accept).

        Only the valid-prefix mark moves: the dropped tokens' keys and values become a stale tail that
        the next forward drops, so the cache ends exactly as if they had never been fed.
        """
        r = self.rows[row]
        if not r.prompt_len <= n_ids <= len(r.ids):
            raise ValueError(f"truncate row {row} to {n_ids} ids: it holds {len(r.ids)} ({r.prompt_len} of prompt)")
        del r.ids[n_ids:]
        r.cached = min(r.cached, n_ids)
        r.text = text
        r.last_segment, r.last_segment_text = [], ""

    def retain(self, rows: Sequence[int]) -> None:
        rows = list(rows)
        if rows == list(range(len(self.rows))):
            return
        self.rows = [self.rows[i] for i in rows]
        if self.width and self.cache.layers:
            index = torch.tensor(rows, dtype=torch.long, device=self.device)
            for layer in self.cache.layers:
                if getattr(layer, "is_initialized", False) and layer.keys is not None and layer.keys.numel():
                    layer.keys = layer.keys.index_select(0, index)
                    layer.values = layer.values.index_select(0, index)
        if not self.rows:
            self._reset_cache()
            return
        self._compact([r.occupied - r.cached for r in self.rows])

    @torch.inference_mode()
    @single_threaded_if_invariant
    def next_logprobs(self) -> torch.Tensor:
        """Log-probabilities of each row's next token given its whole stream ``[rows, vocab]``."""
        return torch.log_softmax(self._sync().float(), dim=-1)

    @torch.inference_mode()
    @single_threaded_if_invariant
    def next_logits(self, rows: Sequence[int] | None = None) -> torch.Tensor:
        """Raw next-token logits ``[rows, vocab]`` (model dtype): one forward over every row's pending ids.

        Token-level ensembles call this once per step, then ``feed`` the chosen token; rows whose
        stream did not change since the last call recompute their last position (no logits are kept).
        With ``rows`` (increasing row indices), only those rows run (a sub-batch: a gated ensemble's
        member that only some rows need) and ``[len(rows), vocab]`` comes back; every other row's ids,
        text, cache marks and keys/values are left exactly as they were.
        """
        if rows is None or list(rows) == list(range(len(self.rows))):
            return self._sync()
        return self._sync_rows(list(rows))

    @torch.inference_mode()
    @single_threaded_if_invariant
    def span_logits(self, counts: Sequence[int]) -> torch.Tensor:
        """Next-token logits after each of every row's last ``counts[row]`` prefixes, in one forward.

        ``[rows, max(counts), vocab]``: entry ``[i, j]`` (``j < counts[i]``) predicts the token after
        ``ids[: len(ids) - counts[i] + 1 + j]``, so its last one is ``next_logits``'s; entries past a
        row's count repeat its last. For verifying drafted tokens (fed with ``feed``) in one pass.
        """
        if len(counts) != len(self.rows) or min(counts, default=1) < 1:
            raise ValueError(f"span_logits needs a count >= 1 for each of {len(self.rows)} rows, got {list(counts)}")
        return self._sync(counts)

    @single_threaded_if_invariant
    def feed(self, ids: Sequence[Sequence[int] | None], texts: Sequence[str | None]) -> None:
        """Append the given token ids to each row as they are (no re-encoding), and ``texts[row]`` to its text.

        For callers that chose the tokens themselves (a token-level ensemble feeding a member its own
        token). ``texts[row]`` is the text those ids complete; it may be shorter than what they spell
        while they end inside a UTF-8 character (the rest arrives with a later ``feed`` or ``append``).
        Keys and values are computed by the next ``next_logits``/``generate``.
        """
        if len(ids) != len(self.rows) or len(texts) != len(self.rows):
            raise ValueError(f"feed got {len(ids)} id lists and {len(texts)} texts for {len(self.rows)} rows")
        for r, new, text in zip(self.rows, ids, texts, strict=True):
            if new:
                r.ids.extend(int(t) for t in new)
            if text:
                r.text += text
            if new or text:
                r.last_segment, r.last_segment_text = [], ""

    @torch.inference_mode()
    @single_threaded_if_invariant
    def generate(
        self,
        max_tokens: int | Sequence[int],
        *,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        top_p: float = 1.0,
        rows: Sequence[int] | None = None,
        ignore_eos: bool = False,
    ) -> list[Segment]:
        n = len(self.rows)
        budgets = [max_tokens] * n if isinstance(max_tokens, int) else list(max_tokens)
        wanted = set(range(n)) if rows is None else set(rows)
        active = [i in wanted and budgets[i] > 0 for i in range(n)]
        out_ids: list[list[int]] = [[] for _ in range(n)]
        out_lp: list[list[float]] = [[] for _ in range(n)]
        finish: list[str | None] = [None] * n
        stopped_by: list[str | None] = [None] * n
        texts: list[str] = [""] * n
        before = [len(r.ids) for r in self.rows]
        for r in self.rows:
            r.last_segment, r.last_segment_text = [], ""
        if not any(active):
            return [Segment([], "", [], "length") for _ in range(n)]
        logits = self._sync()
        while True:
            # log p(token) = logit - logsumexp(logits): no full log-softmax tensor per step
            scores = logits.float()
            chosen = self._choose(scores, temperature, top_p, active)
            picked = scores.gather(1, torch.tensor(chosen, device=scores.device)[:, None]).squeeze(1)
            chosen_lp = (picked - torch.logsumexp(scores, dim=-1)).tolist()
            for i in range(n):
                if not active[i]:
                    continue
                tok = int(chosen[i])
                out_ids[i].append(tok)
                out_lp[i].append(chosen_lp[i])
                self.rows[i].ids.append(tok)
                self.stats.generated_tokens += 1
                if tok in self.eos_ids and not ignore_eos:
                    finish[i], stopped_by[i], active[i] = "stop", "eos", False
                    continue
                if stop:
                    text = self._segment_text(i, before[i], out_ids[i])
                    cut = _find_stop(text, stop)
                    if cut is not None:
                        texts[i] = text[:cut]
                        finish[i], stopped_by[i], active[i] = "stop", "stop_string", False
                        continue
                if len(out_ids[i]) >= budgets[i]:
                    finish[i], active[i] = "length", False
            if not any(active):
                break
            logits = self._decode_step(chosen, active)
        segments = []
        for i, r in enumerate(self.rows):
            ids = out_ids[i]
            if not ids:
                segments.append(Segment([], "", [], "length"))
                continue
            if stopped_by[i] == "stop_string":
                text = texts[i]
            else:
                body = ids[:-1] if stopped_by[i] == "eos" else ids
                text = self._segment_text(i, before[i], body)
                if finish[i] == "length":
                    # Never hand out half a UTF-8 character: give the incomplete tail back.
                    while text.endswith(REPLACEMENT_CHAR) and len(ids) > 1:
                        ids.pop()
                        out_lp[i].pop()
                        r.ids.pop()
                        text = self._segment_text(i, before[i], ids)
            r.cached = min(r.cached, len(r.ids))
            r.text += text
            r.last_segment, r.last_segment_text = list(ids), text
            segments.append(
                Segment(list(ids), text, out_lp[i], finish[i] or "length", stopped_by[i])  # type: ignore[arg-type]
            )
        return segments

    # ----------------------------------------------------------------- internals
    def _segment_text(self, i: int, before_len: int, seg_ids: list[int]) -> str:
        return self._decode_continuation(self.rows[i].ids[:before_len], seg_ids)

    def _decode_continuation(self, before: list[int], seg: list[int]) -> str:
        """Text that ``seg`` adds after ``before``: decoded with a few tokens of left context, so
        SentencePiece leading spaces and multi-token characters come out as in the full decode."""
        ctx = before[-4:]
        dec = self.tokenizer.decode
        head = dec(ctx, skip_special_tokens=False, clean_up_tokenization_spaces=False) if ctx else ""
        full = dec(ctx + seg, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if full.startswith(head) and not head.endswith(REPLACEMENT_CHAR):
            return full[len(head) :]
        # Rare: the context ends inside a character; decode from further back.
        ctx = before[-32:]
        head = dec(ctx, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        full = dec(ctx + seg, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        common = _common_prefix_len(head, full)
        return full[common:]

    def _append_row(self, r: _Row, new_text: str) -> None:
        start, tail = self._reencoded(r.ids, r.prompt_len, r.text, new_text)
        r.ids[start:] = tail
        r.cached = min(r.cached, start)
        r.text += new_text
        r.last_segment, r.last_segment_text = [], ""

    def appended_ids(self, row: int, n_ids: int, text: str, new_text: str) -> list[int]:
        """The ids row ``row`` would hold if cut back to its first ``n_ids`` ids (which spell ``text``)
        and then given ``new_text`` by ``append``; nothing changes.

        A speculative ensemble asks this to know whether re-reading a written piece from text (what a
        plain step makes a member do after a disagreement) gives the very token it was already fed.
        """
        r = self.rows[row]
        if not r.prompt_len <= n_ids <= len(r.ids):
            raise ValueError(f"row {row} holds {len(r.ids)} ids ({r.prompt_len} of prompt), not {n_ids}")
        ids = r.ids[:n_ids]
        start, tail = self._reencoded(ids, r.prompt_len, text, new_text)
        return ids[:start] + tail

    def _reencoded(self, ids: list[int], prompt_len: int, text: str, new_text: str) -> tuple[int, list[int]]:
        """Where appending ``new_text`` to a stream (``ids`` spelling ``text`` after the prompt) first
        changes it, and the ids from there on: the bounded tail re-encoding of the module docstring."""
        cont = ids[prompt_len:]
        k = min(self.tail_tokens, len(cont))
        while True:
            head_ids = cont[: len(cont) - k]
            head_text = self._decode_plain(head_ids)
            if text.startswith(head_text) and (k == len(cont) or not head_text.endswith(REPLACEMENT_CHAR)):
                break
            if k == len(cont):  # the whole continuation: always consistent by construction
                head_ids, head_text = [], ""
                break
            k = min(len(cont), 2 * k)
        new_tail = self._encode_fragment(text[len(head_text) :] + new_text)
        old_tail = cont[len(head_ids) :]
        same = _common_prefix_len(old_tail, new_tail)
        return prompt_len + len(head_ids) + same, new_tail[same:]

    def _decode_plain(self, ids: list[int]) -> str:
        if not ids:
            return ""
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _encode_fragment(self, text: str) -> list[int]:
        """Token ids of ``text`` as a piece in the middle of a stream (no BOS, no dummy prefix)."""
        if not text:
            return []
        if self._prefix_adds is None:
            return self.tokenizer.encode(text, add_special_tokens=False)
        sentinel, n = self._prefix_adds
        ids = self.tokenizer.encode(sentinel + text, add_special_tokens=False)
        return ids[n:]

    def sample(self, scores: torch.Tensor, rows: Sequence[int], *, temperature: float, top_p: float = 1.0) -> list[int]:
        """One token per given row, drawn exactly as ``generate`` draws it there: from ``scores[i]`` (the
        logits of ``rows[i]``, float32) tempered and top-p truncated, with that row's own seeded stream.

        For a token-level ensemble that lets one member write a row's token as it would alone
        (``mode: mixture``).
        """
        if temperature <= 0.0:
            raise ValueError("sample needs temperature > 0 (greedy is an argmax, not a draw)")
        return [self._sample_row(scores[i], temperature, top_p, self.rows[r].generator) for i, r in enumerate(rows)]

    def _choose(self, scores: torch.Tensor, temperature: float, top_p: float, active: list[bool]) -> list[int]:
        """Greedy argmax, or temperature/top-p sampling from each row's own seeded generator."""
        if temperature <= 0.0:
            return scores.argmax(dim=-1).tolist()
        chosen = [self.pad_id] * scores.shape[0]
        for i, on in enumerate(active):
            if on:
                chosen[i] = self._sample_row(scores[i], temperature, top_p, self.rows[i].generator)
        return chosen

    @staticmethod
    def _sample_row(scores: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None) -> int:
        probs = torch.softmax(scores / temperature, dim=-1)
        if top_p < 1.0:
            sorted_p, order = probs.sort(descending=True)
            cum = sorted_p.cumsum(0)
            keep = cum - sorted_p < top_p
            keep[0] = True
            probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_p[keep])
        return draw(probs, generator)

    # -- cache management ------------------------------------------------------
    def _reset_cache(self) -> None:
        from transformers import DynamicCache

        self.cache = DynamicCache()
        self.width = 0
        for r in self.rows:
            r.cached = r.occupied = 0

    @torch.inference_mode()
    def _compact(self, drop: list[int]) -> None:
        """Drop ``drop[i]`` columns from the right end of row i, re-right-aligning all rows."""
        rows = self.rows
        new_occ = [r.occupied - d for r, d in zip(rows, drop, strict=True)]
        new_width = max(new_occ, default=0)
        if not any(drop) and new_width == self.width:
            return
        if new_width == 0:
            self._reset_cache()
            return
        # Rows dropping the fewest columns keep their place in a plain slice (a view, no copy); only rows
        # that drop more are shifted right, one row at a time (no full-cache gather per step).
        least = min(drop)
        base = self.width - least - new_width
        shifted = [(i, base - (d - least)) for i, d in enumerate(drop) if d != least]
        for layer in self._layers():
            for name in ("keys", "values"):
                old = getattr(layer, name)
                new = old[:, :, base : base + new_width]
                for i, start in shifted:
                    # new column j of row i is old column start + j (left of 0: padding, left as is)
                    lo = max(0, -start)
                    new[i, :, lo:] = old[i, :, start + lo : start + new_width].clone()
                setattr(layer, name, new)
        self.width = new_width
        for r, occ in zip(rows, new_occ, strict=True):
            r.occupied = occ
            r.cached = min(r.cached, occ)

    def _layers(self) -> list[Any]:
        return [
            layer
            for layer in self.cache.layers
            if getattr(layer, "is_initialized", False) and layer.keys is not None and layer.keys.numel()
        ]

    def _attention_mask(self, extra: list[int], total_extra: int) -> torch.Tensor:
        """Mask over cache columns plus a new chunk: each row's occupied tail, then its real chunk."""
        n = len(self.rows)
        mask = torch.zeros(n, self.width + total_extra, dtype=torch.long, device=self.device)
        for i, r in enumerate(self.rows):
            if r.cached:  # valid columns start the row's block; a stale tail (if any) follows them
                start = self.width - r.occupied
                mask[i, start : start + r.cached] = 1
            if extra[i]:
                mask[i, self.width : self.width + extra[i]] = 1
        return mask

    def _sync(self, counts: Sequence[int] | None = None) -> torch.Tensor:
        """Bring every row's cache up to its ids but the last; return each row's next-token logits
        (with ``counts``: the logits of each row's last ``counts[i]`` positions, see ``span_logits``)."""
        rows = self.rows
        keep = [1] * len(rows) if counts is None else list(counts)
        for r, c in zip(rows, keep, strict=True):
            # keep at least one token pending, so this forward yields the row's next-token logits
            r.cached = min(r.cached, len(r.ids) - c)
        self._compact([r.occupied - r.cached for r in rows])
        pending = [r.ids[r.cached :] for r in rows]
        lens = [len(p) for p in pending]
        t = max(lens)
        context = max(len(r.ids) for r in rows)
        if self.max_context is not None and context > self.max_context:
            raise GenerationError(f"context of {context} tokens exceeds the model's limit of {self.max_context}")
        input_ids = torch.full((len(rows), t), self.pad_id, dtype=torch.long, device=self.device)
        position_ids = torch.zeros((len(rows), t), dtype=torch.long, device=self.device)
        for i, (r, p) in enumerate(zip(rows, pending, strict=True)):
            input_ids[i, : len(p)] = torch.tensor(p, dtype=torch.long)
            position_ids[i] = torch.arange(r.cached, r.cached + t).clamp_(max=r.cached + len(p) - 1)
        width = max(keep)
        last = torch.tensor([[n - c + j if j < c else n - 1 for j in range(width)]
                             for n, c in zip(lens, keep, strict=True)], device=self.device)
        logits = self._forward(input_ids, position_ids, lens, logits_to_keep=last)
        # tokens fed after each row's prompt; the first prefill of a prompt is not counted
        self.stats.encoded_tokens += sum(
            n - max(0, min(n, r.prompt_len - r.cached)) for r, n in zip(rows, lens, strict=True)
        )
        for r, n in zip(rows, lens, strict=True):
            r.cached += n
        self._compact([t - n for n in lens])
        return logits[:, 0] if counts is None else logits

    def _sync_rows(self, rows: list[int]) -> torch.Tensor:
        """``_sync`` for a sub-batch: the forward runs over ``rows`` only; the other rows are untouched.

        The sub-batch's keys/values are taken out (``index_select``), brought up to date by the
        ordinary ``_sync`` (compaction, one right-padded chunk), and written back right-aligned. The
        untouched rows keep their blocks where they were: when the sub-batch grows the cache wider,
        they only gain masked left padding, which is what any shorter row in a batch has.
        """
        if not rows or sorted(set(rows)) != rows or rows[-1] >= len(self.rows):
            raise ValueError(f"next_logits rows must be increasing row indices of {len(self.rows)}, got {rows}")
        everyone, width = self.rows, self.width
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        full = [(layer.keys, layer.values) if getattr(layer, "is_initialized", False) and layer.keys is not None
                and layer.keys.numel() else None for layer in self.cache.layers]
        try:
            self.rows = [everyone[i] for i in rows]
            for layer, kv in zip(self.cache.layers, full, strict=True):
                if kv is not None:
                    layer.keys, layer.values = kv[0].index_select(0, index), kv[1].index_select(0, index)
            logits = self._sync()
            sub_width = self.width
        finally:
            self.rows = everyone
        chosen = set(rows)
        others = [r.occupied for i, r in enumerate(everyone) if i not in chosen]
        new_width = max([sub_width, *others])
        for n, layer in enumerate(self.cache.layers):
            sub = (layer.keys, layer.values)
            old = full[n] if n < len(full) else None
            merged = []
            for j in (0, 1):
                if old is not None and new_width == width:  # fits: write the sub-batch's rows in place
                    target = old[j]
                else:
                    shape = list(sub[j].shape)
                    shape[0], shape[2] = len(everyone), new_width
                    target = sub[j].new_zeros(shape)
                    if old is not None:
                        k = min(width, new_width)
                        target[:, :, new_width - k :] = old[j][:, :, width - k :]
                target[index, :, new_width - sub_width :] = sub[j]
                merged.append(target)
            layer.keys, layer.values = merged
        self.width = new_width
        return logits

    def _decode_step(self, chosen: list[int], active: list[bool]) -> torch.Tensor:
        """Feed one sampled token per row (inactive rows: a masked pad) and return the new logits."""
        rows = self.rows
        input_ids = torch.tensor([[c if a else self.pad_id] for c, a in zip(chosen, active, strict=True)],
                                 dtype=torch.long, device=self.device)
        position_ids = torch.tensor([[len(r.ids) - 1 if a else r.cached] for r, a in zip(rows, active, strict=True)],
                                    dtype=torch.long, device=self.device)
        logits = self._forward(input_ids, position_ids, [1 if a else 0 for a in active], logits_to_keep=1)
        for r, a in zip(rows, active, strict=True):
            if a:
                r.cached += 1
        return logits[:, -1]

    def _forward(
        self, input_ids: torch.Tensor, position_ids: torch.Tensor, real: list[int], *, logits_to_keep: Any
    ) -> torch.Tensor:
        """Run one chunk through the model, appending it to every row's block of the cache.

        ``real[i]`` of row i's chunk columns are real tokens (the rest are padding, masked out and
        left as a stale tail for the caller to drop). Callers advance ``cached`` themselves.
        """
        t = input_ids.shape[1]
        mode = invariant_forward(self.model, real, t) if self.batch_invariant else contextlib.nullcontext()
        with mode:
            out = self.model(
                input_ids=input_ids,
                attention_mask=self._attention_mask(real, t),
                position_ids=position_ids,
                cache=self.cache,
                use_cache=True,
                logits_to_keep=logits_to_keep,
            )
        self.stats.forward_calls += 1
        self.width += t
        for r in self.rows:
            r.occupied += t
        return out.logits


def _common_prefix_len(a: Sequence[Any], b: Sequence[Any]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _find_stop(text: str, stop: Sequence[str]) -> int | None:
    hits = [text.find(s) for s in stop if s]
    hits = [h for h in hits if h >= 0]
    return min(hits) if hits else None


def _fragment_prefix(tokenizer: Any) -> tuple[str, int] | None:
    """How to encode a fragment without a SentencePiece dummy prefix space, if the tokenizer adds one.

    Returns ``None`` when plain ``encode(text, add_special_tokens=False)`` round-trips, else a
    sentinel string to prepend and the number of its tokens to strip.
    """
    probe = "x y"
    ids = tokenizer.encode(probe, add_special_tokens=False)
    if tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) == probe:
        return None
    sentinel = "\n"
    n = len(tokenizer.encode(sentinel, add_special_tokens=False))
    return sentinel, n
