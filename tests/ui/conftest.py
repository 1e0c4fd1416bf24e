"""Fixtures of the web UI tests: a tiny two-member recipe, a hand-made bench folder, and live
``ensemble serve --ui`` servers (with and without a key), each started once per session."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "server"))
sys.path.insert(0, str(TESTS / "evaluation"))

from bench_dirs import make_bench, member_records, verdicts  # noqa: E402
from live import LiveServer, launch  # noqa: E402
from ui_live import DUO, KEY, LOOP, UNLOADED  # noqa: E402

from tiny_models import save_tiny_llamas  # noqa: E402


@pytest.fixture(scope="session")
def duo_recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ui-models")
    a, b = save_tiny_llamas(root)[:2]
    path = root / "duo.yaml"
    path.write_text(DUO.format(a=a, b=b))
    return path


@pytest.fixture(scope="session")
def recipes_folder(duo_recipe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A --recipes folder: one runnable recipe, one on a model not loaded, one invalid, one name clash."""
    root = tmp_path_factory.mktemp("ui-recipes")
    a, b = duo_recipe.parent / "llama-0", duo_recipe.parent / "llama-1"
    (root / "loop.yaml").write_text(LOOP.format(a=a, b=b))
    (root / "bf16.yaml").write_text(UNLOADED.format(a=a, b=b))
    (root / "typo.yaml").write_text(LOOP.format(a=a, b=b).replace("type: loop", "type: lop"))
    (root / "clash.yml").write_text(LOOP.format(a=a, b=b).replace("tiny-loop", "tiny-duo"))
    (root / "notes.txt").write_text("not a recipe")
    return root


@pytest.fixture(scope="session")
def bench_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished bench of recipe 'vote' over 8 problems: members a, b and the ensemble."""
    root = tmp_path_factory.mktemp("ui-bench")
    members = {"a": member_records("vote", "a", "11000001"), "b": member_records("vote", "b", "11110000")}
    folder = make_bench(root / "vote", "vote", members, verdicts("11111001"), {"a": 10.0, "b": 20.0, "vote": 60.0})
    (folder / "report.png").write_bytes(_png(40, 20))
    return folder


def _png(width: int, height: int) -> bytes:
    """A plain orange PNG (what the viewer must show as an image, whatever draws the real report)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xe6\x9f\x00" * width for _ in range(height))
    head = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def ui_server(duo_recipe: Path, bench_folder: Path, recipes_folder: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``ensemble serve --ui`` without a key; votes go to ``<log dir>/votes.jsonl``."""
    logs = tmp_path_factory.mktemp("ui-logs")
    server = launch(duo_recipe, logs / "ui.log", "--ui", "--votes", str(logs / "votes.jsonl"),
                    "--bench", str(bench_folder), "--recipes", str(recipes_folder), "--max-tokens-cap", "64")
    server.votes = logs / "votes.jsonl"  # type: ignore[attr-defined]
    yield server
    assert server.stop(signal.SIGTERM) == 0, server.output()


@pytest.fixture(scope="session")
def keyed_server(
    duo_recipe: Path, bench_folder: Path, recipes_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``ensemble serve --ui --api-key``."""
    logs = tmp_path_factory.mktemp("ui-keyed-logs")
    server = launch(duo_recipe, logs / "keyed.log", "--ui", "--votes", str(logs / "votes.jsonl"),
                    "--bench", str(bench_folder), "--recipes", str(recipes_folder), api_key=KEY)
    yield server
    assert server.stop(signal.SIGTERM) == 0, server.output()
