"""The byte-keyed union vocabulary, on the real tokenizers of the two offline default models."""

from __future__ import annotations

import pytest

from ensemble_cli.vocab.token_bytes import byte_symbols, token_bytes
from ensemble_cli.vocab.union import END, SPECIAL, TEXT, build_union, union_vocab
from tiny_models import real_tokenizer

SMOL, GEMMA = "smollm2-135m-instruct", "gemma3-270m"
EOS = {SMOL: {2}, GEMMA: {1, 106}}


@pytest.fixture(scope="module")
def toks():
    return real_tokenizer(SMOL), real_tokenizer(GEMMA)


@pytest.fixture(scope="module")
def union(toks):
    return build_union(toks, [EOS[SMOL], EOS[GEMMA]], [len(t) for t in toks])


def test_byte_symbols_cover_every_byte_once():
    table = byte_symbols()
    assert sorted(table.values()) == list(range(256))
    assert table["Ġ"] == 0x20 and table["Ċ"] == 0x0A


def test_every_token_maps_to_an_entry_and_back(toks, union):
    for m, tok in enumerate(toks):
        table = token_bytes(tok)
        entry = union.members[m].token_entry.tolist()
        assert len(entry) == len(tok) and min(entry) >= 0
        eos = EOS[SMOL] if m == 0 else EOS[GEMMA]
        decoded = tok.batch_decode([[i] for i in range(len(tok))], skip_special_tokens=False,
                                   clean_up_tokenization_spaces=False)
        for tid, data in enumerate(table):
            e = entry[tid]
            kind = int(union.kinds[e])
            if tid in eos:
                assert e == union.end and kind == END
            elif data is None:
                assert kind == SPECIAL and union.names[e] == tok.convert_ids_to_tokens(tid)
            else:
                assert kind == TEXT and union.entry_bytes(e) == data
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    continue  # part of a character: no string of its own to compare
                assert decoded[tid] == text


def test_single_bytes_cover_all_256(union):
    singles = {union.entry_bytes(e) for e in range(len(union)) if len(union.entry_bytes(e)) == 1}
    assert singles == {bytes([b]) for b in range(256)}


def test_one_string_one_entry_and_different_strings_never_merge(toks, union):
    smol, gemma = toks
    s_nl = smol.encode("\n", add_special_tokens=False)
    g_nl = gemma.encode("\n", add_special_tokens=False)
    assert len(s_nl) == len(g_nl) == 1
    nl = int(union.members[0].token_entry[s_nl[0]])
    assert nl == int(union.members[1].token_entry[g_nl[0]])
    # Gemma's byte fallback for the same byte lands on the same entry, but it is fed its own token
    fallback = gemma.convert_tokens_to_ids("<0x0A>")
    assert int(union.members[1].token_entry[fallback]) == nl
    assert int(union.members[1].preferred[nl]) == g_nl[0]
    # SmolLM2's byte symbol 'ĳ' is one byte; Gemma's token 'ĳ' is the ligature's two bytes
    sym = smol.convert_tokens_to_ids("ĳ")
    lig = gemma.convert_tokens_to_ids("ĳ")
    if isinstance(lig, int) and lig != gemma.unk_token_id:
        assert union.entry_bytes(int(union.members[0].token_entry[sym])) == bytes([byte_symbols()["ĳ"]])
        assert union.entry_bytes(int(union.members[1].token_entry[lig])) == "ĳ".encode()
        assert int(union.members[0].token_entry[sym]) != int(union.members[1].token_entry[lig])
    # the same special string of two tokenizers is never text
    assert int(union.kinds[int(union.members[0].token_entry[1])]) == SPECIAL  # <|im_start|>


def test_entries_follow_the_first_members_ids(toks, union):
    """Ties in an argmax over the union break like the first member's own argmax (lowest id)."""
    entry = union.members[0].token_entry.tolist()
    order: list[int] = []
    seen: set[int] = set()
    for e in entry:  # entries appear in the first member's id order (an entry repeats only for end ids)
        if e not in seen:
            seen.add(e)
            order.append(e)
    assert order == list(range(len(order)))


def test_disk_cache_round_trip(toks, tmp_path, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path))
    eos = [EOS[SMOL], EOS[GEMMA]]
    widths = [len(t) for t in toks]
    built = union_vocab(toks, eos, widths)
    files = list((tmp_path / "vocab").glob("union-*.pt"))
    assert len(files) == 1
    loaded = union_vocab(toks, eos, widths)
    assert loaded.blob == built.blob and loaded.offsets == built.offsets and loaded.end == built.end
    for a, b in zip(loaded.members, built.members, strict=True):
        assert a.token_entry.equal(b.token_entry) and a.preferred.equal(b.preferred)
        assert len(a.dups) == len(b.dups)
