"""Integration tier: ``generation.batch_invariant`` on the real offline models (bf16 quickstart).

The quickstart over the 12 demo rows gives identical records (text, attribution with its scores,
finish) at batch sizes 1, 3 and 8; and the server answers one request alone exactly as it does
among 7 concurrent others.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pytest

from ensemble_cli.core.pipeline import Pipeline
from ensemble_cli.core.types import Example
from ensemble_cli.recipe import load_recipe

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from live import LiveServer, launch  # noqa: E402

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
INVARIANT = ["generation.batch_invariant=true", "generation.max_tokens=32"]


def demo_rows() -> list[Example]:
    rows = [json.loads(line) for line in (ROOT / "data/demo.jsonl").read_text().splitlines() if line.strip()]
    return [Example(r["id"], [{"role": "user", "content": r["prompt"]}]) for r in rows]


def test_quickstart_records_are_the_same_at_batch_1_3_and_8() -> None:
    pipe = Pipeline(load_recipe(ROOT / "recipes/quickstart.yaml", INVARIANT))
    pipe.load()
    examples = demo_rows()
    assert len(examples) == 12

    def records(batch: int) -> list[str]:
        out = []
        for i in range(0, len(examples), batch):
            for r in pipe.run_batch(examples[i : i + batch]):
                d = asdict(r)
                d.pop("usage")  # generated_tokens counts rejected candidates: identical too, but not the point
                out.append(json.dumps(d, sort_keys=True, default=str))
        return out

    one = records(1)
    assert records(3) == one
    assert records(8) == one


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    log = tmp_path_factory.mktemp("serve-invariant") / "server.log"
    args = ["--deterministic", "--set", "generation.max_tokens=32"]  # the flag: the same as INVARIANT
    live = launch(ROOT / "recipes/quickstart.yaml", log, *args, timeout=600)
    yield live
    assert live.stop(signal.SIGTERM) == 0, live.output()


def test_server_gives_a_request_the_same_answer_alone_and_among_7_others(server: LiveServer) -> None:
    import openai

    client = openai.OpenAI(base_url=server.v1, api_key="x", max_retries=0, timeout=600)
    prompts = [ex.messages[0]["content"] for ex in demo_rows()[:8]]

    def ask(prompt: str) -> str:
        reply = client.chat.completions.create(model="quickstart", messages=[{"role": "user", "content": prompt}])
        return reply.choices[0].message.content or ""

    alone = ask(prompts[0])
    with ThreadPoolExecutor(len(prompts)) as pool:
        together = list(pool.map(ask, prompts))
    assert together[0] == alone
