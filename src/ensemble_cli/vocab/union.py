"""The union vocabulary of several tokenizers, keyed by the bytes each token stands for.

Every token of every member maps to one *entry* of the union:

* text tokens to the entry of their bytes (``token_bytes``), so one string has exactly one entry
  whoever spells it (SmolLM2's ``Ċ`` and Gemma's ``\\n`` token both land on ``b"\\n"``) and two
  different strings never share one;
* every member's end-of-sequence ids to the single ``end`` entry;
* other special tokens to an entry named by the token's string (``<|im_start|>``), never merged
  with text.

A member may spell the same bytes with several tokens (Gemma's ``\\n`` and its byte fallback
``<0x0A>``); all of them map to the entry, and ``preferred`` names the one a member is fed when it
must take the entry as one token: its ordinary token, not the byte fallback.

Entries are numbered in the order of the first member's token ids, then the new entries of the
second member, and so on, so an argmax over the union breaks ties the way the first member's own
argmax does (lowest id).

Building needs one pass over each vocabulary (a few seconds for Gemma's 262k tokens, no
vocabulary-squared matching) and the result is cached on disk under
``<cache>/vocab/union-<hash>.pt``, keyed by each tokenizer's serialized form and end ids.

Members whose tokenizers are identical (same serialized form, end ids and logit width: Qwen2.5 0.5B
and 1.5B, or a model ensembled with itself) share one ``MemberMap``: the union is built, cached and
loaded for the distinct tokenizers only (measured for the Qwen pair: 5 s instead of 9 s to build).
When *every* member shares it (``shared``), an entry is the same token to all of them, and
``token_level`` feeds each member the chosen token instead of having it catch up from text.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from ..models.cache import cache_dir
from .token_bytes import is_byte_fallback, token_bytes

FORMAT = 1
TEXT, END, SPECIAL = 0, 1, 2


class Probabilities(Protocol):
    """What ``entry_probs`` needs of a member's probabilities: a tensor's ``gather`` along the vocabulary."""

    @property
    def dtype(self) -> torch.dtype: ...

    def gather(self, dim: int, index: torch.Tensor) -> torch.Tensor: ...


@dataclass
class MemberMap:
    """How one member's vocabulary sits in the union."""

    token_entry: torch.Tensor  # [vocab] entry of each token id (-1: none, e.g. ids past the tokenizer)
    entries: torch.Tensor  # [n] the distinct entries this member spells, ascending
    tokens: torch.Tensor  # [n] the member's lowest token id for each of ``entries``
    dups: list[tuple[torch.Tensor, torch.Tensor]]  # (positions in ``entries``, further token ids), by level
    preferred: torch.Tensor  # [union] the token a member is fed for an entry it spells in one token (-1: none)


@dataclass
class UnionVocab:
    blob: bytes  # all entries' bytes, concatenated
    offsets: list[int]  # entry e is blob[offsets[e]:offsets[e+1]]
    kinds: torch.Tensor  # [union] TEXT, END or SPECIAL
    names: dict[int, str]  # SPECIAL entries: the token string
    members: list[MemberMap]
    end: int  # the shared end-of-sequence entry
    clean: torch.Tensor  # [union] bool: text that is valid UTF-8 when it starts at a character boundary
    continuation: torch.Tensor  # [k] TEXT entries whose first byte is a UTF-8 continuation byte

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def shared(self) -> bool:
        """Every member maps every token id to the same entry (identical tokenizers): a token chosen
        by one member is a token of all of them."""
        if "_shared" not in self.__dict__:
            first = self.members[0].token_entry
            self.__dict__["_shared"] = all(
                m is self.members[0] or torch.equal(m.token_entry, first) for m in self.members[1:]
            )
        return self.__dict__["_shared"]

    def spellings(self, m: int) -> torch.Tensor:
        """``[levels, len + 1]`` member ``m``'s token ids for each entry (-1: none; the extra last column
        is a dummy entry that no member spells). Built on first use and kept."""
        cache = self.__dict__.setdefault("_spell", {})
        if m not in cache:
            mm = self.members[m]
            table = torch.full((1 + len(mm.dups), len(self) + 1), -1, dtype=torch.long)
            table[0, mm.entries] = mm.tokens
            for level, (pos, tok) in enumerate(mm.dups, start=1):
                table[level, mm.entries[pos]] = tok
            cache[m] = table
        return cache[m]

    def entry_probs(self, m: int, probs: Probabilities, entries: torch.Tensor) -> torch.Tensor:
        """Member ``m``'s probability of each of ``entries`` (``[rows, k]``, may hold the dummy ``len``).

        A member that spells an entry with several tokens contributes its most likely spelling, so a
        model ensembled with itself ranks entries exactly as it ranks its own tokens. ``probs`` is a
        ``[rows, vocab]`` tensor or anything that gathers like one (a step's lazy ``MemberDist``).
        """
        table = self.spellings(m)
        out = torch.zeros(entries.shape, dtype=probs.dtype)
        for level in range(table.shape[0]):
            ids = table[level][entries]
            got = probs.gather(1, ids.clamp(min=0)).masked_fill_(ids < 0, 0.0)
            out = torch.maximum(out, got)
        return out

    def union_probs(self, m: int, probs: torch.Tensor) -> torch.Tensor:
        """Member ``m``'s probabilities laid out over the whole union ``[rows, len(self)]`` (0 where it
        has no token; its most likely spelling where it has several, as ``entry_probs``).

        One ``index_select`` from the member's probabilities (plus a zero column), which is several
        times faster on CPU than scattering them into the union.
        """
        cache = self.__dict__.setdefault("_select", {})
        if m not in cache:
            first = self.spellings(m)[0, :-1]
            width = probs.shape[1]
            cache[m] = (torch.where(first >= 0, first, torch.full_like(first, width)), width)
        index, width = cache[m]
        if width != probs.shape[1]:
            raise ValueError(f"member {m} gave {probs.shape[1]} probabilities, the union expects {width}")
        padded = torch.cat([probs, probs.new_zeros(probs.shape[0], 1)], dim=1)
        out = padded.index_select(1, index)
        mm = self.members[m]
        for pos, tok in mm.dups:
            cols = mm.entries[pos]
            out[:, cols] = torch.maximum(out[:, cols], probs[:, tok])
        return out


    def entry_bytes(self, e: int) -> bytes:
        return self.blob[self.offsets[e] : self.offsets[e + 1]]

    def describe(self, e: int) -> str:
        """Readable name of an entry (for attribution and errors)."""
        kind = int(self.kinds[e])
        if kind == END:
            return "<end>"
        if kind == SPECIAL:
            return self.names[e]
        return self.entry_bytes(e).decode("utf-8", errors="backslashreplace")


def valid_utf8_prefix(data: bytes) -> bool:
    """Valid UTF-8 possibly cut inside its last character."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def tokenizer_fingerprint(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    h = hashlib.sha256()
    if backend is not None:
        h.update(backend.to_str().encode("utf-8"))
    else:  # slow tokenizers: the vocabulary itself
        h.update(repr(sorted(tokenizer.get_vocab().items())).encode("utf-8"))
    h.update(str(len(tokenizer)).encode())
    return h.hexdigest()


def union_key(fingerprints: Sequence[str], eos_ids: Sequence[set[int]]) -> str:
    """The disk-cache key of a union, from each tokenizer's ``tokenizer_fingerprint`` and end ids."""
    h = hashlib.sha256(f"union-v{FORMAT}".encode())
    for fp, eos in zip(fingerprints, eos_ids, strict=True):
        h.update(fp.encode())
        h.update(repr(sorted(eos)).encode())
    return h.hexdigest()[:24]


def build_union(tokenizers: Sequence[Any], eos_ids: Sequence[set[int]], vocab_sizes: Sequence[int]) -> UnionVocab:
    """Build the union (one pass per vocabulary). ``vocab_sizes``: each model's logit width."""
    slots: dict[Any, int] = {}
    blob = bytearray()
    offsets = [0]
    kinds: list[int] = []
    names: dict[int, str] = {}
    clean: list[bool] = []

    def slot(key: Any, data: bytes, kind: int, name: str = "") -> int:
        e = slots.get(key)
        if e is None:
            e = slots[key] = len(kinds)
            blob.extend(data)
            offsets.append(len(blob))
            kinds.append(kind)
            clean.append(kind != TEXT or valid_utf8_prefix(data))
            if kind == SPECIAL:
                names[e] = name
        return e

    per_member: list[list[int]] = []
    for tok, eos in zip(tokenizers, eos_ids, strict=True):
        table = token_bytes(tok)
        pieces = tok.convert_ids_to_tokens(list(range(len(table))))
        mapping = []
        for tid, data in enumerate(table):
            if tid in eos:
                mapping.append(slot(("end",), b"", END, "<end>"))
            elif data is None or data == b"":
                mapping.append(slot(("special", str(pieces[tid])), b"", SPECIAL, str(pieces[tid])))
            else:
                mapping.append(slot(data, data, TEXT))
        per_member.append(mapping)
    size = len(kinds)
    members = []
    for tok, mapping, width in zip(tokenizers, per_member, vocab_sizes, strict=True):
        token_entry = torch.full((max(width, len(mapping)),), -1, dtype=torch.long)
        token_entry[: len(mapping)] = torch.tensor(mapping, dtype=torch.long)
        token_entry = token_entry[:width]
        by_entry: dict[int, list[int]] = {}
        for tid, e in enumerate(mapping[:width]):
            by_entry.setdefault(e, []).append(tid)
        entries = sorted(by_entry)
        first = [by_entry[e][0] for e in entries]
        dups: list[tuple[torch.Tensor, torch.Tensor]] = []
        level = 1
        while True:
            pos = [i for i, e in enumerate(entries) if len(by_entry[e]) > level]
            if not pos:
                break
            dups.append((torch.tensor(pos, dtype=torch.long),
                         torch.tensor([by_entry[entries[i]][level] for i in pos], dtype=torch.long)))
            level += 1
        preferred = torch.full((size,), -1, dtype=torch.long)
        for e, ids in by_entry.items():
            ordinary = [t for t in ids if not is_byte_fallback(tok, t)] if len(ids) > 1 else ids
            preferred[e] = (ordinary or ids)[0]
        members.append(MemberMap(token_entry, torch.tensor(entries, dtype=torch.long),
                                 torch.tensor(first, dtype=torch.long), dups, preferred))
    kinds_t = torch.tensor(kinds, dtype=torch.int8)
    cont = [e for e in range(size) if kinds[e] == TEXT and 0x80 <= blob[offsets[e]] < 0xC0]
    end = slots.get(("end",), -1)
    return UnionVocab(bytes(blob), offsets, kinds_t, names, members, end,
                      torch.tensor(clean, dtype=torch.bool), torch.tensor(cont, dtype=torch.long))


def _to_state(u: UnionVocab) -> dict[str, Any]:
    return {
        "format": FORMAT, "blob": torch.frombuffer(bytearray(u.blob), dtype=torch.uint8) if u.blob else
        torch.zeros(0, dtype=torch.uint8), "offsets": torch.tensor(u.offsets, dtype=torch.long),
        "kinds": u.kinds, "names": u.names, "end": u.end, "clean": u.clean, "continuation": u.continuation,
        "members": [
            {"token_entry": m.token_entry, "entries": m.entries, "tokens": m.tokens,
             "dups": [list(d) for d in m.dups], "preferred": m.preferred}
            for m in u.members
        ],
    }


def _from_state(s: dict[str, Any]) -> UnionVocab:
    members = [MemberMap(m["token_entry"], m["entries"], m["tokens"],
                         [tuple(d) for d in m["dups"]], m["preferred"]) for m in s["members"]]  # type: ignore[misc]
    return UnionVocab(s["blob"].numpy().tobytes(), s["offsets"].tolist(), s["kinds"], dict(s["names"]), members,
                      int(s["end"]), s["clean"], s["continuation"])


def union_vocab(tokenizers: Sequence[Any], eos_ids: Sequence[set[int]], vocab_sizes: Sequence[int],
                *, use_cache: bool = True) -> UnionVocab:
    """The union for these tokenizers, from the disk cache when it was built before.

    Identical tokenizers (same fingerprint, end ids and width) are built once and share their
    ``MemberMap``; the entries are the same as building them all, since a repeated tokenizer adds none.
    """
    prints: dict[int, str] = {}  # by object: the same tokenizer object is serialized once
    keys = [(prints.setdefault(id(t), tokenizer_fingerprint(t)), tuple(sorted(e)), int(w))
            for t, e, w in zip(tokenizers, eos_ids, vocab_sizes, strict=True)]
    distinct = list(dict.fromkeys(keys))
    first = [keys.index(k) for k in distinct]
    toks, eos, widths = ([seq[i] for i in first] for seq in (tokenizers, eos_ids, vocab_sizes))
    u = _distinct_union(toks, eos, widths, [k[0] for k in distinct], use_cache)
    if len(distinct) < len(keys):
        u.members = [u.members[distinct.index(k)] for k in keys]
    return u


def _distinct_union(tokenizers: Sequence[Any], eos_ids: Sequence[set[int]], vocab_sizes: Sequence[int],
                    prints: Sequence[str], use_cache: bool) -> UnionVocab:
    if not use_cache:
        return build_union(tokenizers, eos_ids, vocab_sizes)
    key = union_key(prints, eos_ids) + "-" + "-".join(str(v) for v in vocab_sizes)
    path = cache_dir() / "vocab" / f"union-{key}.pt"
    if path.exists():
        try:
            return _from_state(torch.load(path, weights_only=True))
        except Exception:  # a broken or foreign file: rebuild it
            pass
    u = build_union(tokenizers, eos_ids, vocab_sizes)
    _save(_to_state(u), path)
    return u


def _save(state: dict[str, Any], path: Path) -> None:
    """Write atomically; a read-only cache only costs the rebuild next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
        os.replace(tmp, path)
    except Exception:
        Path(tmp).unlink(missing_ok=True)
