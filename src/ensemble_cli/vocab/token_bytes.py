"""The bytes each token of a tokenizer stands for.

Token-level ensembling compares tokens of different tokenizers, and the only thing two tokenizers
share is the text they produce, so every token is reduced to the exact *bytes* it adds to the
output. Token strings are not comparable directly:

* byte-level BPE (GPT-2 style, SmolLM2) stores each byte as a printable stand-in symbol (``Ġ`` is
  the space byte, ``âĢĻ`` the three bytes of ``’``); the symbols are mapped back to bytes;
* SentencePiece-style BPE (Gemma) writes the space as ``▁`` and, with byte fallback, a byte the
  vocabulary lacks as ``<0xNN>``; ``▁`` becomes a space and ``<0xNN>`` the byte ``NN``;
* added tokens that are not special (Gemma's ``\\n`` token) stand for their content as is.

Special tokens (end of sequence, chat markers, ``<unusedN>``) stand for no text at all: they get
``None`` here and their own slots in the union, never a text slot.

Which scheme applies is read from the tokenizer's decoder; anything else falls back to decoding
each token alone, and ``verify`` checks the result against the tokenizer's own decode.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@cache
def byte_symbols() -> dict[str, int]:
    """Byte-level BPE's printable stand-ins: symbol -> byte.

    Printable Latin-1 bytes stand for themselves; the remaining 68 bytes (controls, space, 0x7F-0xA0,
    0xAD) are assigned the code points 256, 257, ... in byte order. That is the published scheme
    byte-level BPE tokenizers share, rebuilt from its definition.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table = {chr(b): b for b in keep}
    extra = 0
    for b in range(256):
        if b not in keep:
            table[chr(256 + extra)] = b
            extra += 1
    return table


def decoder_kind(tokenizer: Any) -> str:
    """``byte_level``, ``sentencepiece`` or ``generic``, from the fast tokenizer's decoder."""
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if decoder is None:
        return "generic"
    spec = json.loads(decoder.__getstate__()) or {}
    parts = spec.get("decoders", [spec]) if spec.get("type") == "Sequence" else [spec]
    types = {p.get("type") for p in parts}
    if "ByteLevel" in types:
        return "byte_level"
    replaces_space = any(p.get("type") == "Replace" and p.get("content") == " " for p in parts)
    if replaces_space or "Metaspace" in types:
        if "Strip" in types or any(p.get("type") == "Metaspace" and p.get("prepend_scheme") != "never"
                                   for p in parts):
            return "generic"  # a decoder that strips the first space depends on position: decode alone
        return "sentencepiece"
    return "generic"


def special_ids(tokenizer: Any) -> set[int]:
    """Ids of special tokens: they stand for no text."""
    ids = {int(i) for i, tok in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).items() if tok.special}
    for tid in getattr(tokenizer, "all_special_ids", []) or []:
        ids.add(int(tid))
    return ids


def token_bytes(tokenizer: Any) -> list[bytes | None]:
    """For every id below ``len(tokenizer)``: the bytes it adds to the text, or ``None`` (special)."""
    kind = decoder_kind(tokenizer)
    n = len(tokenizer)
    specials = special_ids(tokenizer)
    added = {int(i): tok.content for i, tok in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).items()}
    pieces = tokenizer.convert_ids_to_tokens(list(range(n)))
    symbols = byte_symbols()
    out: list[bytes | None] = []
    for tid, piece in enumerate(pieces):
        if tid in specials or piece is None:
            out.append(None)
        elif tid in added and kind != "byte_level":
            out.append(added[tid].encode("utf-8"))
        elif kind == "byte_level":
            try:
                out.append(bytes(symbols[ch] for ch in piece))
            except KeyError:  # an added token outside the byte alphabet stands for its own text
                out.append(piece.encode("utf-8"))
        elif kind == "sentencepiece":
            m = _BYTE_FALLBACK.match(piece)
            out.append(bytes([int(m.group(1), 16)]) if m else piece.replace("\u2581", " ").encode("utf-8"))
        else:
            out.append(tokenizer.decode([tid], skip_special_tokens=False,
                                        clean_up_tokenization_spaces=False).encode("utf-8"))
    return out


def is_byte_fallback(tokenizer: Any, tid: int) -> bool:
    """Whether ``tid`` is a SentencePiece byte-fallback token (``<0xNN>``)."""
    piece = tokenizer.convert_ids_to_tokens(tid)
    return isinstance(piece, str) and _BYTE_FALLBACK.match(piece) is not None


def verify(tokenizer: Any, table: list[bytes | None], text: str) -> bool:
    """Whether the table reproduces the tokenizer's own decode of ``text``'s tokens (a build-time check)."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    ours = b"".join(table[i] or b"" for i in ids).decode("utf-8", errors="replace")
    theirs = tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return ours == theirs
