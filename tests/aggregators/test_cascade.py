"""The ``cascade`` aggregator: exactly the doubtful rows escalate.

Confidence check: both members are tiny random-weight models (a Llama and a Gemma-3 with the real
tokenizers); the threshold is set between the primary's own per-row confidences, measured apart
from the cascade. Agreement check: the primary is a scripted member whose samples' final answers
are chosen per row (random weights write no numbers), the stronger one the tiny Llama.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from pydantic import ValidationError

from aggregator_checks import assert_consistent
from ensemble_cli.aggregators.cascade import CascadeAggregator, CascadeConfig
from ensemble_cli.aggregators.full_answers import write_answers
from ensemble_cli.aggregators.single import SingleAggregator
from ensemble_cli.core.components import EnsembleContext, Generator, Member
from ensemble_cli.core.sessions import SessionBatch, SessionStats
from ensemble_cli.core.types import Example, GenerationSettings, Segment
from ensemble_cli.errors import UsageError
from response_fixtures import EXAMPLES, LengthScorer

SETTINGS = GenerationSettings(max_tokens=12)


def cascade(members, examples=EXAMPLES, settings=SETTINGS, scorer=None, **cfg):
    ctx = EnsembleContext(list(members), scorer, settings)
    return CascadeAggregator(CascadeConfig(**cfg)).run(list(examples), ctx)


def confidences(member, examples=EXAMPLES, settings=SETTINGS):
    answers, _ = write_answers(member, examples, settings, EnsembleContext([member], None, settings))
    return [row[0].segment.mean_logprob for row in answers]


def single(member, examples=EXAMPLES, settings=SETTINGS):
    return SingleAggregator().run(list(examples), EnsembleContext([member], None, settings))


# -- confidence: tiny models ---------------------------------------------------------------------


def test_confidence_escalates_exactly_the_rows_below_the_threshold(tiny_members):
    primary, strong = tiny_members
    conf = confidences(primary)
    assert len(set(conf)) == len(conf)  # distinct, so a threshold can split them
    threshold = sorted(conf)[1]  # the least confident row escalates, the others (>=) settle
    results = cascade(tiny_members, check="confidence", threshold=threshold, cut_off_escalates=False)
    assert [r.summary["escalated"] for r in results] == [c < threshold for c in conf]
    assert [r.summary["confidence"] for r in results] == pytest.approx(conf, abs=1e-6)
    alone, strong_alone = single(primary), single(strong)
    for r, c, a, s in zip(results, conf, alone, strong_alone, strict=True):
        if c < threshold:  # the stronger member's own answer, its own streak of attribution
            assert r.output == s.output and {x.model for x in r.attribution} == {"gemma"}
            assert r.selected_models == ["llama", "gemma"]
            assert r.usage.generated_tokens == s.usage.completion_tokens + a.usage.completion_tokens
        else:  # exactly the primary's single (greedy) answer
            assert r.output == a.output and [x.model for x in r.attribution] == ["llama"]
            assert r.selected_models == ["llama"] and r.usage.generated_tokens == a.usage.completion_tokens
    assert_consistent(results, SETTINGS.max_tokens)


def test_threshold_extremes_and_cut_off_answers(tiny_members):
    conf = confidences(tiny_members[0])
    low, high = min(conf) - 1.0, max(conf) + 1.0
    none_up = cascade(tiny_members, check="confidence", threshold=low, cut_off_escalates=False)
    all_up = cascade(tiny_members, check="confidence", threshold=high, cut_off_escalates=False)
    assert [r.summary["escalated"] for r in none_up] == [False] * 3
    assert [r.summary["escalated"] for r in all_up] == [True] * 3
    # at 12 tokens random weights run out of budget: a cut-off answer escalates however sure it is
    answers, _ = write_answers(tiny_members[0], EXAMPLES, SETTINGS, EnsembleContext(tiny_members, None, SETTINGS))
    cut = [row[0].segment.finish_reason == "length" for row in answers]
    assert any(cut)
    assert [r.summary["escalated"] for r in cascade(tiny_members, check="confidence", threshold=low)] == cut


def test_confidence_from_a_nested_scorer(tiny_members):
    results = cascade(tiny_members, check="confidence", threshold=-1e6, cut_off_escalates=False,
                      confidence={"type": "self-certainty", "params": {"under": "gemma"}})
    assert all(not r.summary["escalated"] and r.summary["confidence"] is not None for r in results)
    assert cascade(tiny_members, check="confidence", threshold=1e6,
                   confidence="self-certainty")[0].summary["escalated"]


# -- agreement: a scripted primary ---------------------------------------------------------------


class _Script(SessionBatch):
    """Writes a fixed text per row (the example's id picks it), token by token as single chars."""

    def __init__(self, texts: list[str]) -> None:
        self.texts, self.pos, self.stats = texts, [0] * len(texts), SessionStats()
        self.rows = list(range(len(texts)))

    def __len__(self) -> int:
        return len(self.rows)

    def prompt_length(self, row: int) -> int:
        return 5

    def generate(self, max_tokens, *, stop=(), temperature=0.0, top_p=1.0, rows=None, ignore_eos=False):
        out = []
        for i, budget in zip(self.rows, max_tokens, strict=True):
            text = self.texts[i][self.pos[i] : self.pos[i] + budget]
            self.pos[i] += len(text)
            done = self.pos[i] >= len(self.texts[i])
            out.append(Segment(list(range(len(text))), text, [-0.5] * len(text), "stop" if done else "length",
                               "eos" if done else None))
        return out

    def retain(self, rows: Sequence[int]) -> None:
        self.rows = [self.rows[r] for r in rows]

    def append(self, texts): raise AssertionError  # noqa: E704
    def rollback(self, row, n_tokens): raise AssertionError  # noqa: E704
    def text(self, row): raise AssertionError  # noqa: E704


class Scripted(Generator):
    """Sample k of example ``q`` (id ``q#k``) writes ``script[q][k]``."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        super().__init__()
        self.script = script

    def open(self, examples: Sequence[Example], settings: GenerationSettings, *, salt: str = "") -> SessionBatch:
        def text(ex: Example) -> str:
            base, _, k = ex.id.partition("#")
            return self.script[base][int(k or 0)]

        return _Script([text(ex) for ex in examples])


LONG = "Let me think about all of this very carefully first. " * 3  # 162 chars: cut off at 60 tokens
SCRIPT = {
    "q1": ["So 7*8 = 56.\n#### 56", "#### 56", "It is 56."],  # unanimous
    "q2": ["#### 56", "#### 54", "#### 56"],  # two of three
    "q3": ["No idea.", "Hmm.", "I can't say."],  # no answer at all
    "q4": ["#### 9", "#### 9", LONG + "#### 9"],  # agreeing, but one sample was cut off
}
MORE = [*EXAMPLES, Example("q4", [{"role": "user", "content": "What is 3 squared?"}])]


@pytest.fixture
def scripted(tiny_members):
    return [Member("cheap", Scripted(SCRIPT)), tiny_members[0]]


@pytest.mark.parametrize("min_agreement,escalated",
                         [(1.0, [False, True, True, True]), (0.6, [False, False, True, False])])
def test_agreement_escalates_exactly_the_rows_whose_samples_disagree(scripted, min_agreement, escalated):
    settings = GenerationSettings(max_tokens=60, temperature=0.7)
    results = cascade(scripted, MORE, settings, min_agreement=min_agreement)
    assert [r.summary["escalated"] for r in results] == escalated
    assert [r.summary["agreement"] for r in results] == pytest.approx([1.0, 2 / 3, 0.0, 2 / 3])
    strong = single(scripted[1], MORE, settings)
    for r, up, s in zip(results, escalated, strong, strict=True):
        if up:
            assert r.output == s.output and r.selected_models == ["cheap", "llama"]
        else:
            assert r.selected_models == ["cheap"] and r.attribution[0].model == "cheap"
            assert r.usage.generated_tokens == sum(min(len(t), 60) for t in SCRIPT[r.id])
    assert results[0].output == "So 7*8 = 56.\n#### 56"  # the settled row's answer is a majority sample
    if min_agreement < 2 / 3:  # two of three settle: the majority's answer, never the cut-off sample
        assert (results[1].output, results[3].output) == ("#### 56", "#### 9")


def test_escalation_runs_a_configured_method_over_the_stronger_members(scripted):
    scorer = LengthScorer()
    settings = GenerationSettings(max_tokens=60, temperature=0.7)
    results = cascade(scripted, MORE, settings, scorer=scorer,
                      escalate={"type": "best-of-n", "params": {"n": 2, "temperature": 1.0}})
    (seen,) = scorer.seen  # one batched call, for the escalated rows only, over the stronger member's samples
    assert sorted({c.example.id for c in seen}) == ["q2", "q3", "q4"]
    assert {c.member for c in seen} == {"llama"} and len(seen) == 6
    assert not results[0].summary["escalated"] and results[1].summary["escalated"]


def test_greedy_agreement_is_refused_and_members_are_checked(scripted):
    with pytest.raises(UsageError, match="temperature"):
        cascade(scripted, MORE, GenerationSettings(max_tokens=8))
    with pytest.raises(UsageError, match="'nobody'"):
        cascade(scripted, MORE, replace(SETTINGS, temperature=0.7), escalate_to=["nobody"])
    with pytest.raises(UsageError, match="needs the recipe's scorer"):
        cascade(scripted, MORE, replace(SETTINGS, temperature=0.7), escalate={"type": "best-of-n"})


def test_streams_settled_rows_once_and_honours_cancellation(scripted):
    emitted: list[tuple[int, str]] = []
    ctx = EnsembleContext(scripted, None, GenerationSettings(max_tokens=60, temperature=0.7),
                          on_text=lambda i, t: emitted.append((i, t)), cancelled=lambda i: i == 2)
    results = CascadeAggregator(CascadeConfig()).run(MORE, ctx)
    assert (results[2].output, results[2].stop_cause) == ("", "cancelled")
    got: dict[int, str] = {}
    for i, text in emitted:
        got[i] = got.get(i, "") + text
    assert got == {i: r.output for i, r in enumerate(results) if r.output}


@pytest.mark.parametrize("params,message", [
    ({"check": "confidence"}, "needs a threshold"),
    ({"threshold": -1.0}, "only for check 'confidence'"),
    ({"check": "confidence", "threshold": -1.0, "samples": 4}, "only for check 'agreement'"),
    ({"samples": 1}, "greater than or equal to 2"),
    ({"escalate": "cascade"}, "cannot escalate to another cascade"),
    ({"min_agreement": 0}, "greater than 0"),
])
def test_config_is_checked(params, message):
    with pytest.raises(ValidationError, match=message):
        CascadeConfig(**params)


def test_recipe_problems_name_the_field():
    problems = CascadeAggregator.recipe_problems(
        CascadeConfig(primary="smal", escalate_to=["big", "huge"]), ["small", "big"])
    assert [p.path for p in problems] == ["primary", "escalate_to.1"]
    assert CascadeAggregator.recipe_problems(CascadeConfig(), ["only"])[0].path == "escalate_to"
    assert CascadeAggregator.scorer_needed(CascadeConfig()) is False
    assert CascadeAggregator.scorer_needed(CascadeConfig(escalate={"type": "best-of-n"})) is True
