"""GGUF → safetensors conversion, cached on disk.

transformers can load a GGUF file directly, but it dequantizes on every start (about 14 s for
SmolLM2-135M and 37–55 s for Gemma-3-270M here). We do that once, clear the GGUF quantizer markers
so the result is a plain dense checkpoint, and ``save_pretrained`` it (float32, so no precision is
lost before the user's chosen dtype); later starts load the folder in well under a few seconds with
identical logits. Conversion writes into a temporary folder and renames it into place, so a killed
conversion never leaves a half-written model that later runs would trust.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelLoadError

COMPLETE_MARKER = ".ensemble-complete"


MIN_TRANSFORMERS = (5, 20)


def transformers_version() -> str:
    import transformers

    return transformers.__version__


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch in "0123456789")
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def is_converted(folder: Path) -> bool:
    return (folder / COMPLETE_MARKER).exists()


def folder_bytes(folder: Path) -> int:
    """Total size of the files in ``folder`` (a converted checkpoint), for status lines."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def convert_gguf(gguf_path: Path, out_dir: Path, on_phase: Callable[[str], None] | None = None) -> Path:
    """Dequantize ``gguf_path`` into a dense HF checkpoint at ``out_dir`` (no-op if already there).

    ``on_phase`` hears each step as it starts (``reading the tokenizer``, ``dequantizing weights``,
    ``saving``), so a caller can say what a conversion of a minute or so is busy with.
    """
    if is_converted(out_dir):
        return out_dir
    phase = on_phase or (lambda _: None)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    found = transformers_version()
    if _version_tuple(found) < MIN_TRANSFORMERS:
        # Measured: 5.19 converts the weights identically but writes a Gemma-3 tokenizer that no
        # longer adds BOS, and Gemma without BOS writes garbage. Refuse rather than cache that.
        raise ModelLoadError(
            f"converting {gguf_path.name} needs transformers>=5.20 (this environment has "
            f"{found}, whose GGUF tokenizer conversion drops Gemma-3's BOS): run "
            "`ensemble models prepare` once in an environment with transformers>=5.20; other "
            "environments reuse that conversion"
        )
    if not gguf_path.exists():
        raise ModelLoadError(f"GGUF file not found: {gguf_path}")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        phase("reading the tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        phase("dequantizing weights")
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent),
            gguf_file=gguf_path.name,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
    except Exception as exc:  # transformers raises many kinds; name the file
        raise ModelLoadError(f"cannot load GGUF file {gguf_path}: {exc}") from exc
    # Turn the loaded model into a plain dense checkpoint: drop every GGUF quantizer marker.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".tmp-", dir=out_dir.parent))
    try:
        phase("saving")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        (tmp / COMPLETE_MARKER).write_text(
            f"source={gguf_path}\nseconds={time.perf_counter() - start:.1f}\n", encoding="utf-8"
        )
        if out_dir.exists():  # an incomplete leftover from a killed run
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
