"""Integration tier: ``recipes/token-union.yaml`` and ``recipes/token-topk.yaml`` on the real models.

The 8 benchmark prompts (GSM8K test) with SmolLM2-135M-Instruct + Gemma-3-270M: the text must be
clean (no byte-level symbols, byte-fallback literals, U+FFFD or spelled-out special tokens), every
member's ids must spell exactly the text it was given with its own tokens (Gemma its own newline
token, never a byte fallback), and generation stops at a member's end of sequence. (Ids equal the
tokenizer's own encoding of the text only where members caught up from text; after a step every
voter agreed on, each keeps the token it chose, as it would alone. The strict equality is checked
on tiny models in tests/aggregators/test_token_level.py.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ensemble_cli.core.pipeline import Pipeline
from ensemble_cli.core.types import Example
from ensemble_cli.recipe import load_recipe
from session_recorder import Recorder

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# ../shared next to the checkout (or next to the folder of worktrees)
DATA = next((p / "shared" / "data" / "gsm8k" / "test.json" for p in ROOT.parents
             if (p / "shared" / "data" / "gsm8k" / "test.json").exists()), ROOT.parent / "shared")
ARTEFACTS = re.compile(
    r"[ĠĊ]|âĢ|Ã©|<0x[0-9A-Fa-f]{2}>|\ufffd|<\|[a-z_]+\|>|<(?:end_of_turn|start_of_turn|eos|bos|pad)>"
)


SHORT = Example("short", [{"role": "user", "content": "Tom has 3 apples and buys 5 more. "
                                                     "How many apples does he have now?"}])

ENDS = Example("ends", [{"role": "user", "content": "What is the capital of France?"}])


def prompts() -> list[Example]:
    """The 8 benchmark prompts, plus a short question both models answer well within the budget."""
    rows = json.loads(DATA.read_text())[:8] if DATA.is_file() else []
    return [Example(f"gsm8k-{i}", [{"role": "user", "content": r["input"]}]) for i, r in enumerate(rows)] + [
        SHORT
    ]


@pytest.mark.parametrize("recipe", ["token-union", "token-topk"])
def test_recipe_runs_clean_on_the_real_pair(recipe, monkeypatch):
    resolved = load_recipe(str(ROOT / "recipes" / f"{recipe}.yaml"), ["generation.max_tokens=96"])
    pipe = Pipeline(resolved)
    pipe.load()
    rec = Recorder(monkeypatch)
    examples = prompts()
    results = pipe.run_batch(examples)
    assert len(results) == len(examples)
    for res in results:
        assert res.error is None and res.output.strip()
        assert not ARTEFACTS.search(res.output), res.output
        assert "".join(a.text for a in res.attribution) == res.output
        assert set(res.summary["won_share"]) == {"smol", "gemma"}
    gemma_tok = pipe.members[1].generator.tokenizer
    for k in (0, 1):
        tok = pipe.members[k].generator.tokenizer
        for i in range(len(examples)):
            ids, text, prompt = rec.final[k][i]
            cont = ids[prompt:]
            assert results[i].output.startswith(text)
            # no duplicated or missing text: the member's ids spell exactly the text it was given
            assert tok.decode(cont, skip_special_tokens=False, clean_up_tokenization_spaces=False) == text
            if k == 1:  # Gemma holds its own tokens: never a byte fallback for text it has tokens for
                pieces = gemma_tok.convert_ids_to_tokens(cont)
                assert not [p for p in pieces if re.fullmatch(r"<0x[0-9A-F]{2}>", p)], pieces
                if "\n" in text:
                    assert any("\n" in p for p in pieces)
    # ends at the shared end slot: asked alone, so the batch (which depends on ../shared being there)
    # cannot change the greedy path; both methods answer this in 8 tokens
    ends = pipe.run_batch([ENDS])[0]
    assert (ends.finish_reason, ends.stop_cause, ends.output) == ("stop", "eos", "The capital of France is Paris.")
