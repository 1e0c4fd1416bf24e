"""Watches the ``HFSessionBatch``es an aggregator opens (token-level tests: who was fed what)."""

from __future__ import annotations

import pytest

from ensemble_cli.generators.hf_session import HFSessionBatch


class Recorder:
    """Watches every session the aggregator opens: ids fed directly, appends, and each row's final stream."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fed: dict[int, dict[int, list[int]]] = {}  # session -> example -> ids fed directly
        self.appends = 0
        self.final: dict[int, dict[int, tuple[list[int], str, int]]] = {}  # session -> example -> (ids, text, prompt)
        self.sessions: list[HFSessionBatch] = []
        self._live: dict[int, list[int]] = {}
        rec = self
        orig_init, orig_feed = HFSessionBatch.__init__, HFSessionBatch.feed
        orig_append, orig_retain = HFSessionBatch.append, HFSessionBatch.retain

        def init(s, *a, **k):
            orig_init(s, *a, **k)
            rec.sessions.append(s)
            rec._live[id(s)] = list(range(len(s.rows)))
            rec.fed[len(rec.sessions) - 1] = {i: [] for i in range(len(s.rows))}
            rec.final[len(rec.sessions) - 1] = {}

        def feed(s, ids, texts):
            k = rec.sessions.index(s)
            for row, new in enumerate(ids):
                if new:
                    rec.fed[k][rec._live[id(s)][row]].extend(new)
            orig_feed(s, ids, texts)

        def append(s, texts):
            rec.appends += sum(1 for t in texts if t)
            orig_append(s, texts)

        def retain(s, rows):
            k, live = rec.sessions.index(s), rec._live[id(s)]
            for row in range(len(s.rows)):
                if row not in rows:
                    rec.final[k][live[row]] = (s.token_ids(row), s.text(row), s.prompt_length(row))
            rec._live[id(s)] = [live[r] for r in rows]
            orig_retain(s, rows)

        monkeypatch.setattr(HFSessionBatch, "__init__", init)
        monkeypatch.setattr(HFSessionBatch, "feed", feed)
        monkeypatch.setattr(HFSessionBatch, "append", append)
        monkeypatch.setattr(HFSessionBatch, "retain", retain)
