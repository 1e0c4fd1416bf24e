"""The web UI in a real headless Chromium (the system package, driven by Playwright) against a live
``ensemble serve --ui`` on tiny models: streamed coloured spans that concatenate to the API's
answer, a blind vote landing in the votes file, a builder typo shown next to its field, the bench
viewer, and the sign-in form with ``--api-key``. Screenshots of each tab go to the test's tmp dir.

Skips (with the reason) when Playwright or a Chromium binary is missing; CI installs both
(``scripts/setup``: the ``dev`` extra and ``apt-get install chromium``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live import LiveServer
from ui_live import KEY

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra has it)")


def _chromium() -> str | None:
    for name in (os.environ.get("ENSEMBLE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = name and shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium binary (apt-get install chromium, or set ENSEMBLE_CHROMIUM)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    offsite: list[str] = []
    local = ("http://127.0.0.1", "blob:", "data:")
    pg.on("request", lambda req: None if req.url.startswith(local) else offsite.append(req.url))
    yield pg
    context.close()
    assert offsite == [], f"the page fetched from outside the server: {offsite}"


def _open(page: Any, server: LiveServer) -> None:
    page.goto(f"{server.base}/ui")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)


def test_playground_streams_spans_coloured_by_member_that_concatenate_to_the_api_answer(
    page: Any, ui_server: LiveServer, tmp_path: Path
) -> None:
    _open(page, ui_server)
    prompt = "List three colours:"
    page.fill("#prompt", prompt)
    page.press("#prompt", "Control+Enter")  # the keyboard path
    page.wait_for_selector("#answer[data-state=done]", timeout=60_000)
    page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
    spans = page.eval_on_selector_all(
        "#answer .piece", "els => els.map(e => [e.textContent, e.dataset.model, e.dataset.models.split(' '), "
        "getComputedStyle(e).backgroundColor, getComputedStyle(e).backgroundImage])")
    info = httpx.get(f"{ui_server.base}/ui/api/info").json()
    body = {"model": "tiny-duo", "messages": [{"role": "user", "content": prompt}], "max_tokens": 12,
            "temperature": 0.0, "seed": 7}
    api = httpx.post(f"{ui_server.v1}/chat/completions", json=body, timeout=120).json()
    answer = api["choices"][0]["message"]["content"]
    assert answer and "".join(text for text, *_ in spans) == answer
    attributed = {a["model"] for a in api["ensemble"]["choices"][0]["attribution"]}
    assert {model for _, model, *_ in spans} == attributed

    def rgb(member: str) -> str:  # a member's colour from /ui/api/info, as CSS computes it
        hexa = info["colours"][member]
        return "rgb({}, {}, {})".format(*(int(hexa[i : i + 2], 16) for i in (1, 3, 5)))

    for _, model, models, colour, image in spans:
        if len(models) == 1:  # one member: its colour
            assert models == [model] and colour == rgb(model)
        else:  # members that agreed: stripes of each one's colour, the writer first
            assert models[0] == model and all(rgb(m) in image for m in models), image
    assert "rounds:" in page.inner_text("#meta") and "tokens:" in page.inner_text("#meta")
    page.eval_on_selector("#answer .piece", "e => e.focus()")  # keyboard: a tiny model may write only newlines
    page.keyboard.press("Enter")
    assert "round" in page.inner_text("#details")
    page.click("#copy-curl")
    assert "/v1/chat/completions" in page.inner_text("#snippet") and prompt in page.inner_text("#snippet")


def test_a_click_on_a_piece_shows_its_round_score_and_the_rejected_candidates(
    page: Any, ui_server: LiveServer, tmp_path: Path
) -> None:
    _open(page, ui_server)
    prompt = "Count: 1 2 3"
    page.fill("#prompt", prompt)
    page.click("#send")
    page.wait_for_selector("#answer[data-state=done]", timeout=60_000)
    body = {"model": "tiny-duo", "messages": [{"role": "user", "content": prompt}], "max_tokens": 12,
            "temperature": 0.0, "seed": 7}
    choice = httpx.post(f"{ui_server.v1}/chat/completions", json=body, timeout=120).json()["ensemble"]["choices"][0]
    trace = {r["round"]: r for r in choice["trace"]}
    first = page.query_selector("#answer .piece")
    assert "rejected" in first.get_attribute("title")  # the hover text: round, score, how many lost
    first.click()
    rounds = page.query_selector_all("#details .round")
    assert rounds, page.inner_text("#details")
    for box in rounds:
        record = trace[int(box.get_attribute("data-round"))]
        rows = box.query_selector_all("table.candidates tr[data-model]")
        shown = [(r.get_attribute("data-model"), r.get_attribute("data-score"), "chosen" in r.get_attribute("class"))
                 for r in rows]
        assert shown == [(c["model"], "" if c["score"] is None else str(c["score"]), c["chosen"])
                         for c in record["candidates"]]
        assert sum(chosen for _, _, chosen in shown) == 1
    assert page.inner_text("#details").count("rejected") >= len(rounds)
    page.screenshot(path=str(tmp_path / "playground-details.png"), full_page=True)


def test_the_playground_runs_a_folder_recipe_and_the_builders_try_it(
    page: Any, ui_server: LiveServer, tmp_path: Path
) -> None:
    _open(page, ui_server)
    page.wait_for_selector("#folder-recipes option[data-file='loop.yaml']", state="attached")
    options = page.eval_on_selector_all(
        "#folder-recipes option", "els => els.map(e => [e.dataset.file, e.disabled, e.textContent])")
    state = {file: (disabled, text) for file, disabled, text in options}
    assert state["loop.yaml"][0] is False and state["bf16.yaml"][0] is True
    assert "not loaded" in state["bf16.yaml"][1] and "invalid" in state["typo.yaml"][1]
    page.select_option("#play-model", "tiny-loop")
    page.fill("#prompt", "Hello")
    page.click("#send")
    page.wait_for_selector("#answer[data-state=done]", timeout=60_000)
    models = set(page.eval_on_selector_all("#answer .piece", "els => els.map(e => e.dataset.model)"))
    assert models and models <= {"alpha", "beta"}  # the folder recipe's own members wrote it
    assert page.eval_on_selector_all("#legend span", "els => els.map(e => e.textContent)")[:2] == ["alpha", "beta"]
    page.screenshot(path=str(tmp_path / "playground-folder-recipe.png"), full_page=True)

    page.click("#tab-builder")
    page.wait_for_function("document.querySelector('#builder-status').textContent.startsWith('valid')")
    page.fill("[data-path='aggregator.params.segment_tokens'] input", "2")
    page.wait_for_function("document.querySelector('#yaml').value.includes('segment_tokens: 2')")
    page.click("#try-it")
    page.wait_for_selector("#play:not([hidden])")
    assert page.input_value("#play-model") == "tiny-duo-copy"
    page.fill("#prompt", "Hello")
    page.click("#send")
    page.wait_for_selector("#answer[data-state=done]", timeout=60_000)
    assert "rounds:" in page.inner_text("#meta") and page.inner_text("#answer")
    body = {"model": "tiny-duo-copy", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 12,
            "temperature": 0.0, "seed": 7}
    api = httpx.post(f"{ui_server.v1}/chat/completions", json=body, timeout=120).json()  # served by the API too
    assert api["ensemble"]["recipe"] == "tiny-duo-copy"
    assert page.eval_on_selector("#answer", "e => e.dataset.output") == api["choices"][0]["message"]["content"]
    page.screenshot(path=str(tmp_path / "builder-try-it.png"), full_page=True)
    page.click("#tab-builder")
    page.fill("#yaml", page.input_value("#yaml").replace("dtype: float32", "dtype: bfloat16"))
    page.wait_for_function("document.querySelector('#builder-status').textContent.startsWith('valid')")
    page.click("#try-it")
    page.wait_for_function("document.querySelector('#try-status').textContent.includes('not loaded')")


def test_blind_side_by_side_writes_the_vote(page: Any, ui_server: LiveServer, tmp_path: Path) -> None:
    votes: Path = ui_server.votes  # type: ignore[attr-defined]
    before = len(votes.read_text().splitlines()) if votes.exists() else 0
    _open(page, ui_server)
    page.click("#tab-sbs")
    page.fill("#sbs-prompt", "Name a fruit:")
    page.check("#blind")
    page.click("#sbs-run")
    page.wait_for_selector("#vote:not([hidden])", timeout=90_000)
    headers = page.eval_on_selector_all("#columns h3", "els => els.map(e => e.textContent)")
    assert headers == ["Answer A", "Answer B", "Answer C"]  # unnamed
    page.screenshot(path=str(tmp_path / "side-by-side.png"), full_page=True)
    page.click("#vote button[data-choice='1']")
    page.wait_for_function("document.querySelector('#vote-status').textContent.includes('vote saved')")
    lines = votes.read_text().splitlines()
    assert len(lines) == before + 1
    vote = json.loads(lines[-1])
    assert sorted(vote["shown"]) == ["first", "second", "tiny-duo"] and vote["winner"] == vote["shown"][1]
    assert vote["prompt"] == "Name a fruit:"
    assert vote["outputs"][1] == page.inner_text("#columns .column >> nth=1 >> .out")


def test_a_typo_in_the_builder_shows_the_error_next_to_its_field(
    page: Any, ui_server: LiveServer, tmp_path: Path
) -> None:
    _open(page, ui_server)
    page.click("#tab-builder")
    page.wait_for_function("document.querySelector('#builder-status').textContent.startsWith('valid')")
    assert "segment_tokens: 3" in page.input_value("#yaml")
    page.fill("[data-path='models.0.name'] input", "first member!")  # a space and '!' are not allowed
    error = page.wait_for_selector("[data-path='models.0.name'] .field-error", timeout=10_000)
    assert "models.0.name" in error.inner_text() and "pattern" in error.inner_text()
    page.fill("[data-path='aggregator.params.segment_tokens'] input", "0")
    seg = page.wait_for_selector("[data-path='aggregator.params.segment_tokens'] .field-error", timeout=10_000)
    assert "greater than 0" in seg.inner_text()
    assert "name: first member!" in page.input_value("#yaml")
    page.screenshot(path=str(tmp_path / "builder.png"), full_page=True)
    page.fill("[data-path='models.0.name'] input", "first")
    page.fill("[data-path='aggregator.params.segment_tokens'] input", "5")
    page.wait_for_function("document.querySelector('#builder-status').textContent.startsWith('valid')")
    assert page.query_selector(".field-error") is None and "segment_tokens: 5" in page.input_value("#yaml")
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "built.yaml"
    download.value.save_as(saved)
    assert "segment_tokens: 5" in saved.read_text()


def test_bench_viewer_renders_the_folder(page: Any, ui_server: LiveServer, tmp_path: Path) -> None:
    _open(page, ui_server)
    page.click("#tab-bench")
    page.click("#bench-open")
    page.wait_for_selector("#bench-table")
    rows = page.eval_on_selector_all("#bench-table tr[data-system]", "els => els.map(e => e.dataset.system)")
    assert rows == ["a", "b", "vote"]
    facts = page.inner_text("#bench-facts")
    assert "8 problems" in facts and "lift 25.0%" in facts and "McNemar p" in facts
    assert page.inner_text("#bench-table tr[data-system=vote]").split("\t")[1:3] == ["6/8", "75.0%"]
    page.click("#problems-table tr[data-id=p7]")
    columns = page.eval_on_selector_all("#bench-detail .column", "els => els.map(e => e.dataset.system)")
    assert columns == ["a", "b", "vote"]
    assert "✗" in page.inner_text("#bench-detail .column[data-system=b] h3")
    page.screenshot(path=str(tmp_path / "bench.png"), full_page=True)


def test_bench_viewer_shows_the_plots_and_opens_a_lone_bench_json(
    page: Any, ui_server: LiveServer, bench_folder: Path, tmp_path: Path
) -> None:
    _open(page, ui_server)
    page.click("#tab-bench")
    page.click("#bench-open")
    page.wait_for_selector("#bench-plots img[data-plot='report.png']")
    page.wait_for_function("document.querySelector('#bench-plots img').complete")
    size = page.eval_on_selector("#bench-plots img", "e => [e.naturalWidth, e.naturalHeight]")
    assert size == [40, 20]  # the folder's report.png, decoded
    page.screenshot(path=str(tmp_path / "bench-plots.png"), full_page=True)
    lone = tmp_path / "upload" / "bench.json"  # bench.json without its records files
    lone.parent.mkdir()
    lone.write_text((bench_folder / "bench.json").read_text())
    page.set_input_files("#bench-upload", str(lone))
    page.wait_for_function("document.querySelector('#bench-note').textContent.includes('records files are not here')")
    rows = page.eval_on_selector_all("#bench-table tr[data-system]", "els => els.map(e => e.dataset.system)")
    assert rows == ["a", "b", "vote"]
    assert page.inner_text("#bench-table tr[data-system=vote]").split("\t")[1:3] == ["6/8", "75.0%"]
    assert "lift 25.0%" in page.inner_text("#bench-facts")
    assert page.query_selector("#problems-table") is None and page.query_selector("#bench-plots img") is None
    page.screenshot(path=str(tmp_path / "bench-upload.png"), full_page=True)


def test_with_a_key_the_page_asks_for_it_then_works(page: Any, keyed_server: LiveServer, tmp_path: Path) -> None:
    response = page.goto(f"{keyed_server.base}/ui")
    assert response.status == 401 and page.is_visible("#key")
    page.fill("#key", "wrong")
    page.press("#key", "Enter")
    assert "not this server" in page.inner_text(".error")
    page.fill("#key", KEY)
    page.press("#key", "Enter")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    page.fill("#prompt", "Hi")
    page.click("#send")
    page.wait_for_selector("#answer[data-state=done]", timeout=60_000)
    assert page.inner_text("#answer")
    page.screenshot(path=str(tmp_path / "keyed.png"), full_page=True)


def test_phone_width_keeps_every_tab_usable(browser: Any, ui_server: LiveServer, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    _open(page, ui_server)
    for tab in ("#tab-play", "#tab-sbs", "#tab-builder", "#tab-bench"):
        page.click(tab)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, (tab, width)
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    context.close()
