"""Blind side-by-side votes, appended to a JSONL file (``--votes FILE``): preference data a router
can later learn from. One line per vote, written whole and flushed so a crash loses at most it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_lock = threading.Lock()


class Vote(BaseModel):
    """What the page sends: the prompt, the systems in the order shown, and the pick."""

    model_config = ConfigDict(extra="forbid")
    prompt: str
    shown: list[str] = Field(min_length=2, description="system names in column order (hidden from the voter)")
    outputs: list[str] = Field(min_length=2)
    choice: int | Literal["tie", "all-bad"] = Field(description="column index of the preferred answer, or a tie")
    recipe: str | None = None


def append_vote(path: Path, vote: Vote) -> dict[str, object]:
    """Append ``vote`` with its time and the winner's name; returns the line written."""
    if len(vote.outputs) != len(vote.shown):
        raise ValueError(f"{len(vote.outputs)} outputs for {len(vote.shown)} systems")
    if isinstance(vote.choice, int) and not 0 <= vote.choice < len(vote.shown):
        raise ValueError(f"choice {vote.choice} is not a column (0..{len(vote.shown) - 1})")
    winner = vote.shown[vote.choice] if isinstance(vote.choice, int) else vote.choice
    line = {"time": round(time.time(), 3), **vote.model_dump(), "winner": winner}
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock, path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")
        f.flush()
    return line


__all__ = ["Vote", "append_vote"]
