"""Tiny random-weight members that mostly follow one script text, each in its own tokenization.

Random models almost never agree on a token, so a speculative round would never get past its first
position. A forward hook adds ``strength`` to the logit of the token that follows the input token in
the member's own encoding of ``SCRIPT`` (any other token leads to the script's first token): two
members with different tokenizers then agree wherever their token boundaries do and disagree where
they don't (one spells ``🙂`` in byte tokens, the other as one token), and the random logits (final
norm scaled up) make them stray now and then. ``eos_after`` makes that text's last token lead to the
end of sequence.
"""

from __future__ import annotations

from typing import Any

import torch

from ensemble_cli.core.types import Example
from tiny_models import make_generator, tiny_gemma3, tiny_llama

SCRIPT = "The cat sat on the mat. Ünïcode 🙂 café, naïve—done!\nUser: next line\n"


def _script_hook(model: Any, tok: Any, strength: float, eos_after: str | None) -> None:
    from ensemble_cli.generators.hf_session import _fragment_prefix

    prefix = _fragment_prefix(tok)
    ids = tok.encode((prefix[0] if prefix else "") + SCRIPT, add_special_tokens=False)[prefix[1] if prefix else 0:]
    follow = {a: b for a, b in zip(ids, ids[1:] + ids[:1], strict=True)}
    if eos_after is not None:
        end = tok.encode((prefix[0] if prefix else "") + eos_after, add_special_tokens=False)[-1]
        follow[end] = tok.eos_token_id
    start = ids[0]

    def hook(module: Any, args: Any, kwargs: dict, out: Any) -> Any:
        input_ids, keep = kwargs["input_ids"], kwargs.get("logits_to_keep", 0)
        if isinstance(keep, torch.Tensor):
            last = torch.take_along_dim(input_ids, keep.to(input_ids.device), dim=1)
        else:
            last = input_ids[:, -keep:] if keep else input_ids
        nxt = torch.tensor([[follow.get(int(t), start) for t in row] for row in last.tolist()])
        out.logits.scatter_add_(2, nxt[..., None], torch.full(nxt.shape + (1,), strength, dtype=out.logits.dtype))
        return out

    model.register_forward_hook(hook, with_kwargs=True)


def scripted_pair(
    strength: float = 6.0, eos_after: str | None = None, dtype: torch.dtype = torch.float32
) -> tuple[Any, Any]:
    """A tiny Llama (SmolLM2 tokenizer) and a tiny Gemma-3 (Gemma tokenizer) following ``SCRIPT``."""
    lm, ltok = tiny_llama(1, tie_word_embeddings=False)
    lm.model.norm.weight.data.mul_(20.0)
    gm, gtok = tiny_gemma3(2)
    gm.model.norm.weight.data.add_(19.0)
    lm, gm = lm.to(dtype), gm.to(dtype)
    _script_hook(lm, ltok, strength, eos_after)
    _script_hook(gm, gtok, strength, eos_after)
    tag = f"{strength}-{eos_after}-{dtype}"
    return make_generator(lm, ltok, f"script-llama-{tag}"), make_generator(gm, gtok, f"script-gemma3-{tag}")


#: five prompts of different lengths (batches whose rows need different numbers of steps)
FIVE = [
    Example("a", [{"role": "user", "content": "What is 2+3? Explain step by step."}]),
    Example("b", [{"role": "user", "content": "Name a colour."}]),
    Example("c", [{"role": "user", "content": "Write one long sentence about the sea and its waves, please."}]),
    Example("d", [{"role": "user", "content": "Hi"}]),
    Example("e", [{"role": "user", "content": "Count from one to ten in French, then in German."}]),
]
