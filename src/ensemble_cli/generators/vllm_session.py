"""Token-id prefix sessions over an in-process ``vllm.LLM``.

vLLM owns the KV cache, so a session is only each row's token ids (prompt + continuation) and its
text. Rolling back or appending edits the ids; the next ``generate`` sends the whole prefix as
``prompt_token_ids`` and vLLM's automatic prefix caching recognises the blocks it computed in the
earlier rounds (only the new tail is prefilled). All rows go to vLLM in one ``LLM.generate`` call,
one ``SamplingParams`` per row (budgets and seeds differ by row), and vLLM batches them.

Appending foreign text follows the ``hf`` sessions' rule: the last ``tail_tokens`` tokens of the row
plus the new text are re-encoded together and only the differing suffix replaces the old ids, so a
segment boundary that falls inside a token of this model is re-tokenized the way the model would
have tokenized the whole text. Segment texts are decoded here (not taken from vLLM's incremental
detokenizer) with the same left-context rule as ``hf``, so both backends return the same text for
the same ids; a stop string cuts the text (the ids keep the stop's tokens, as in ``hf``) and an
incomplete UTF-8 character at a ``length`` end is given back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.seeding import row_seed
from ..core.sessions import SessionBatch, SessionStats
from ..core.types import Segment
from ..errors import GenerationError
from .hf_session import REPLACEMENT_CHAR

_SEED_MASK = (1 << 31) - 1


@dataclass
class _Row:
    ids: list[int]
    prompt_len: int
    seed: int | None = None
    text: str = ""
    calls: int = 0
    last_segment: list[int] = field(default_factory=list)
    last_segment_text: str = ""


class VLLMSessionBatch(SessionBatch):
    """Sessions of one vLLM engine over a batch of examples (see the module docstring)."""

    def __init__(
        self,
        llm: Any,
        tokenizer: Any,
        prompt_ids: Sequence[list[int]],
        *,
        eos_ids: set[int],
        seeds: Sequence[int | None] | None = None,
        tail_tokens: int = 4,
        logprobs: int = 0,
        max_context: int | None = None,
        lock: Any = None,
    ) -> None:
        self.llm = llm
        self.lock = lock if lock is not None else contextlib.nullcontext()
        self.tokenizer = tokenizer
        self.eos_ids = set(eos_ids)
        self.tail_tokens = max(1, tail_tokens)
        self.logprobs = logprobs
        self.max_context = max_context
        self.stats = SessionStats()
        self.cached_tokens = 0  #: prompt tokens vLLM served from its prefix cache
        self.prefilled_tokens = 0  #: prompt tokens vLLM had to compute
        seeds = list(seeds) if seeds is not None else [None] * len(prompt_ids)
        self.rows: list[_Row] = []
        for ids, seed in zip(prompt_ids, seeds, strict=True):
            if not ids:
                raise GenerationError("empty prompt: the chat template produced no tokens")
            self.rows.append(_Row(ids=list(ids), prompt_len=len(ids), seed=seed))
            self.stats.prompt_tokens += len(ids)
        self._sentinel = _fragment_sentinel(tokenizer)

    # ----------------------------------------------------------------- contract
    def __len__(self) -> int:
        return len(self.rows)

    def prompt_length(self, row: int) -> int:
        return self.rows[row].prompt_len

    def text(self, row: int) -> str:
        return self.rows[row].text

    def token_ids(self, row: int) -> list[int]:
        return list(self.rows[row].ids)

    def append(self, texts: Sequence[str | None]) -> None:
        if len(texts) != len(self.rows):
            raise ValueError(f"append got {len(texts)} texts for {len(self.rows)} rows")
        for r, new in zip(self.rows, texts, strict=True):
            if new:
                self._append_row(r, new)

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
        kept_text = self._decode_after(r.ids[: len(r.ids) - len(keep)], keep) if keep else ""
        r.text = base_text + kept_text
        r.last_segment, r.last_segment_text = keep, kept_text

    def retain(self, rows: Sequence[int]) -> None:
        self.rows = [self.rows[i] for i in rows]

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
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        n = len(self.rows)
        budgets = [max_tokens] * n if isinstance(max_tokens, int) else list(max_tokens)
        wanted = set(range(n)) if rows is None else set(rows)
        todo = [i for i in range(n) if i in wanted and budgets[i] > 0]
        for r in self.rows:
            r.last_segment, r.last_segment_text = [], ""
        segments = [Segment([], "", [], "length") for _ in range(n)]
        if not todo:
            return segments
        prompts, params = [], []
        for i in todo:
            r = self.rows[i]
            if self.max_context is not None and len(r.ids) + budgets[i] > self.max_context:
                budget = self.max_context - len(r.ids)
                if budget <= 0:
                    raise GenerationError(
                        f"context of {len(r.ids)} tokens leaves no room under max_model_len={self.max_context}"
                    )
                budgets[i] = budget
            seed = None
            if temperature > 0 and r.seed is not None:
                seed = row_seed(r.seed, str(r.calls)) & _SEED_MASK  # type: ignore[operator]
            prompts.append(TokensPrompt(prompt_token_ids=list(r.ids)))
            params.append(
                SamplingParams(
                    max_tokens=budgets[i],
                    temperature=temperature,
                    top_p=top_p,
                    seed=seed,
                    stop=list(stop) or None,
                    # vLLM's ignore_eos does not ignore stop_token_ids: leave them out then
                    stop_token_ids=None if ignore_eos else sorted(self.eos_ids) or None,
                    ignore_eos=ignore_eos,
                    logprobs=self.logprobs,
                    skip_special_tokens=True,
                )
            )
        with self.lock:
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
        self.stats.forward_calls += 1
        for i, out in zip(todo, outputs, strict=True):
            r = self.rows[i]
            r.calls += 1
            cached = int(getattr(out, "num_cached_tokens", 0) or 0)
            self.cached_tokens += cached
            self.prefilled_tokens += len(r.ids) - cached
            segments[i] = self._segment(r, out.outputs[0], stop, ignore_eos)
        return segments

    # ----------------------------------------------------------------- internals
    def _segment(self, r: _Row, out: Any, stop: Sequence[str], ignore_eos: bool) -> Segment:
        ids = [int(t) for t in out.token_ids]
        lps, tops = _logprobs(ids, out.logprobs)
        before = list(r.ids)
        stopped_by = None
        if out.finish_reason == "stop":
            eos_end = bool(ids) and ids[-1] in self.eos_ids and not ignore_eos
            stopped_by = "stop_string" if isinstance(out.stop_reason, str) and not eos_end else "eos"
        finish = "stop" if stopped_by else "length"
        if stopped_by == "eos":
            body = ids[:-1] if ids and ids[-1] in self.eos_ids else ids
            text = self._decode_after(before, body)
        else:
            text = self._decode_after(before, ids)
            if stopped_by == "stop_string":
                cut = _find_stop(text, stop)
                text = text[:cut] if cut is not None else text
            else:
                while text.endswith(REPLACEMENT_CHAR) and len(ids) > 1:  # give back half a character
                    ids.pop()
                    lps = lps[: len(ids)]
                    tops = tops[: len(ids)] if tops is not None else None
                    text = self._decode_after(before, ids)
        r.ids.extend(ids)
        r.text += text
        r.last_segment, r.last_segment_text = list(ids), text
        self.stats.generated_tokens += len(ids)
        tops = tops if self.logprobs else None
        return Segment(list(ids), text, lps, finish, stopped_by, tops)  # type: ignore[arg-type]

    def _decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _decode_after(self, before: list[int], seg: list[int]) -> str:
        """Text ``seg`` adds after ``before`` (decoded with a little left context, as ``hf`` does)."""
        for width in (4, 32):
            ctx = before[-width:]
            head, full = self._decode(ctx), self._decode(ctx + seg)
            if full.startswith(head) and not head.endswith(REPLACEMENT_CHAR):
                return full[len(head) :]
        common = 0
        for a, b in zip(head, full, strict=False):
            if a != b:
                break
            common += 1
        return full[common:]

    def _encode_fragment(self, text: str) -> list[int]:
        if not text:
            return []
        if self._sentinel is None:
            return list(self.tokenizer.encode(text, add_special_tokens=False))
        sentinel, skip = self._sentinel
        return list(self.tokenizer.encode(sentinel + text, add_special_tokens=False))[skip:]

    def _append_row(self, r: _Row, new_text: str) -> None:
        cont = r.ids[r.prompt_len :]
        k = min(self.tail_tokens, len(cont))
        while True:
            head_ids = cont[: len(cont) - k]
            head_text = self._decode(head_ids)
            if r.text.startswith(head_text) and (k == len(cont) or not head_text.endswith(REPLACEMENT_CHAR)):
                break
            if k == len(cont):
                head_ids, head_text = [], ""
                break
            k = min(len(cont), 2 * k)
        new_tail = self._encode_fragment(r.text[len(head_text) :] + new_text)
        r.ids[r.prompt_len + len(head_ids) :] = new_tail
        self.stats.encoded_tokens += len(new_tail)
        r.text += new_text
        r.last_segment, r.last_segment_text = [], ""


def _logprobs(ids: list[int], positions: Any) -> tuple[list[float], list[dict[str, float]] | None]:
    """Chosen-token log-probs and, per position, the returned alternatives ``{token text: log-prob}``."""
    if positions is None:
        return [], None
    chosen, tops = [], []
    for tok, pos in zip(ids, positions, strict=False):
        pos = pos or {}
        entry = pos.get(tok)
        chosen.append(float(entry.logprob) if entry is not None else float("nan"))
        tops.append({str(lp.decoded_token if lp.decoded_token is not None else tid): float(lp.logprob)
                     for tid, lp in pos.items()})
    return chosen, tops


def _find_stop(text: str, stop: Sequence[str]) -> int | None:
    hits = [text.find(s) for s in stop if s]
    hits = [h for h in hits if h >= 0]
    return min(hits) if hits else None


def _fragment_sentinel(tokenizer: Any) -> tuple[str, int] | None:
    """How to encode a mid-stream fragment without a SentencePiece dummy prefix (as in ``hf``)."""
    probe = "x y"
    if tokenizer.decode(tokenizer.encode(probe, add_special_tokens=False), skip_special_tokens=False,
                        clean_up_tokenization_spaces=False) == probe:
        return None
    return "\n", len(tokenizer.encode("\n", add_special_tokens=False))
