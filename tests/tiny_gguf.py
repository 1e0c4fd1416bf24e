"""A tiny qwen2-architecture GGUF written with the ``gguf`` library, for conversion tests.

Random weights (seeded), a byte-level BPE vocabulary of the 256 byte symbols plus a few merges and
the ChatML specials, and Qwen2's chat template and end-of-turn id: the same kind of file as the
large aliases ship (``tokenizer.ggml.model = gpt2``, ``pre = qwen2``), a few hundred kilobytes.
Two tensors are stored Q8_0, so conversion also dequantizes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HIDDEN, FFN, LAYERS, HEADS, KV_HEADS = 32, 64, 2, 4, 2
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
MERGES = ["Ġ t", "h e", "Ġt he", "i n"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-in for each byte (the byte-level BPE alphabet)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return list(bytes_to_unicode().values())


def vocabulary() -> list[str]:
    symbols = _byte_symbols()
    merged = ["".join(m.split(" ")) for m in MERGES]
    return symbols + merged + SPECIALS


def tensors(seed: int = 0) -> dict[str, np.ndarray]:
    """The GGUF tensors, by GGUF name, as float32 in PyTorch layout ``[out, in]``."""
    rng = np.random.default_rng(seed)
    vocab = len(vocabulary())
    head_dim = HIDDEN // HEADS

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    out = {"token_embd.weight": w(vocab, HIDDEN), "output_norm.weight": 1 + w(HIDDEN),
           "output.weight": w(vocab, HIDDEN)}
    for i in range(LAYERS):
        b = f"blk.{i}."
        out |= {
            b + "attn_norm.weight": 1 + w(HIDDEN), b + "ffn_norm.weight": 1 + w(HIDDEN),
            b + "attn_q.weight": w(HIDDEN, HIDDEN), b + "attn_q.bias": w(HIDDEN),
            b + "attn_k.weight": w(KV_HEADS * head_dim, HIDDEN), b + "attn_k.bias": w(KV_HEADS * head_dim),
            b + "attn_v.weight": w(KV_HEADS * head_dim, HIDDEN), b + "attn_v.bias": w(KV_HEADS * head_dim),
            b + "attn_output.weight": w(HIDDEN, HIDDEN),
            b + "ffn_gate.weight": w(FFN, HIDDEN), b + "ffn_up.weight": w(FFN, HIDDEN),
            b + "ffn_down.weight": w(HIDDEN, FFN),
        }
    return out


QUANTIZED = ("blk.0.ffn_up.weight", "blk.1.ffn_down.weight")  #: stored as Q8_0


def write_tiny_qwen2(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the GGUF; returns the weights as a converter should reproduce them (Q8_0 ones dequantized)."""
    import gguf
    from gguf.quants import dequantize, quantize

    vocab = vocabulary()
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_name("Tiny Qwen2 test model")
    writer.add_block_count(LAYERS)
    writer.add_context_length(256)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(vocab)
    writer.add_token_types([gguf.TokenType.NORMAL] * (len(vocab) - len(SPECIALS))
                           + [gguf.TokenType.CONTROL] * len(SPECIALS))
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(vocab.index("<|endoftext|>"))
    writer.add_eos_token_id(vocab.index("<|im_end|>"))
    writer.add_pad_token_id(vocab.index("<|endoftext|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    expected = {}
    for name, data in tensors(seed).items():
        if name in QUANTIZED:
            q = quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            expected[name] = dequantize(q, gguf.GGMLQuantizationType.Q8_0).reshape(data.shape)
        else:
            writer.add_tensor(name, data)
            expected[name] = data
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return expected
