"""``docs/plugins.md`` is checked against the code, so the guide fails here the moment it drifts.

- The blocks titled with a file name (```` ```python title="src/ensemble_keyword/scorer.py" ````)
  are written out as the package they describe; its own tests (from the guide) run in a fresh
  interpreter, and its recipe runs end to end on tiny random-weight models.
- The ```` ```python signatures ```` blocks of the reference are compared, statement by statement,
  with the classes they show: every public method, field and class attribute, in both directions.
- Every hook of ``hookspecs.py`` is in the hooks table; the ``register_commands`` example adds a
  working command; every Python block parses.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ensemble_cli import hookspecs
from ensemble_cli.core import components, sessions
from ensemble_cli.core import types as core_types
from ensemble_cli.core.pipeline import Pipeline
from ensemble_cli.core.pool import ModelPool
from ensemble_cli.core.types import Example
from ensemble_cli.plugins import load_plugins, load_registry, register_plugin_commands, use_registry
from ensemble_cli.recipe import validate_recipe

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
FENCE = re.compile(r"^```([\w-]*)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="([^"]+)"')
PACKAGE = "ensemble_keyword"
FILES = {
    "pyproject.toml",
    "src/ensemble_keyword/__init__.py",
    "src/ensemble_keyword/scorer.py",
    "src/ensemble_keyword/aggregator.py",
    "tests/test_keyword.py",
    "recipes/keyword.yaml",
}


def guide_blocks() -> list[tuple[str, str, str]]:
    """``(language, info after the language, body)`` of every fenced block, in order."""
    return [(m[1], m[2].strip(), m[3]) for m in FENCE.finditer(GUIDE.read_text(encoding="utf-8"))]


def guide_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for _, info, body in guide_blocks():
        title = TITLE.search(info)
        if title:
            assert title[1] not in files, f"{title[1]} appears twice in the guide"
            files[title[1]] = body
    return files


def write_package(root: Path) -> Path:
    for name, body in guide_files().items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    return root


@pytest.fixture
def package(tmp_path: Path) -> Iterator[types.ModuleType]:
    """The guide's package, imported from a temporary folder (and forgotten afterwards)."""
    root = write_package(tmp_path / "ensemble-keyword")
    sys.path.insert(0, str(root / "src"))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root / "src"))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


# -- the package ----------------------------------------------------------------------------------


def test_the_guide_holds_the_whole_package() -> None:
    assert set(guide_files()) == FILES


def test_every_python_block_parses() -> None:
    for lang, info, body in guide_blocks():
        if lang == "python":
            ast.parse(body, filename=f"docs/plugins.md ({info or 'untitled'})")


def test_pyproject_declares_the_entry_point() -> None:
    project = tomllib.loads(guide_files()["pyproject.toml"])["project"]
    assert project["entry-points"]["ensemble_cli"] == {"keyword": PACKAGE}
    assert any(dep.startswith("ensemble-cli") for dep in project["dependencies"])
    assert f"src/{PACKAGE}/__init__.py" in guide_files()


def test_the_plugin_tests_in_the_guide_pass(tmp_path: Path) -> None:
    """The guide's own test file, run by pytest in a fresh interpreter, as its author would."""
    root = write_package(tmp_path / "ensemble-keyword")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b5 passed\b", done.stdout), done.stdout


def test_the_guide_code_is_lint_clean(tmp_path: Path) -> None:
    """The project's ruff rules, with the package seen as a plugin sees itself (ours is third-party)."""
    pytest.importorskip("ruff", reason="ruff is a dev tool")
    root = write_package(tmp_path / "ensemble-keyword")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
         "--config", f"lint.isort.known-first-party=['{PACKAGE}']",
         "--config", "lint.isort.known-third-party=['ensemble_cli']", "."],
        cwd=root, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_registered_through_the_hooks(package: types.ModuleType) -> None:
    registry = load_registry(autoload=False, extra_plugins=[package])
    assert registry.lookup("scorer", "keyword").plugin == PACKAGE
    assert registry.get("aggregator", "best-answer").__name__ == "BestAnswerAggregator"
    assert registry.plugin(PACKAGE).status == "ok"


# -- the recipe, end to end -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny Llama (SmolLM2 tokenizer) and a tiny Gemma-3 (Gemma tokenizer), saved as folders."""
    from tiny_models import tiny_gemma3, tiny_llama  # tests/ is on sys.path (conftest.py)

    root = tmp_path_factory.mktemp("guide-models")
    dirs = {}
    for name, make in (("smol", tiny_llama), ("gemma", tiny_gemma3)):
        model, tok = make(seed=5)
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
        dirs[name] = str(root / name)
    return dirs


def test_the_guide_recipe_validates_as_written(package: types.ModuleType) -> None:
    registry = load_registry(autoload=False, extra_plugins=[package])
    resolved = validate_recipe(yaml.safe_load(guide_files()["recipes/keyword.yaml"]), registry)
    assert resolved.aggregator.type == "best-answer" and resolved.scorer is not None
    assert resolved.scorer.config.words == ["apples", "8"]


def test_the_guide_recipe_runs_on_tiny_models(
    package: types.ModuleType, model_dirs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = yaml.safe_load(guide_files()["recipes/keyword.yaml"])
    for model in data["models"]:
        model["params"].update(model=model_dirs[model["name"]], dtype="float32")
    data["generation"]["max_tokens"] = 12
    registry = load_registry(autoload=False, extra_plugins=[package])
    with use_registry(registry):
        pipeline = Pipeline(validate_recipe(data, registry), ModelPool())
        examples = [Example(f"q{i}", [{"role": "user", "content": q}])
                    for i, q in enumerate(["Tom has 3 apples and buys 5 more. How many?", "Name a colour."])]
        results = pipeline.run_batch(examples)
    assert [r.id for r in results] == ["q0", "q1"]
    for result in results:
        assert result.error is None
        assert result.selected_models == ["smol", "gemma"]
        assert "".join(a.text for a in result.attribution) == result.output
        [piece] = result.attribution
        assert piece.model in ("smol", "gemma") and isinstance(piece.score, float)
        assert result.finish_reason in ("stop", "length") and 0 < result.usage.completion_tokens <= 12
        assert result.usage.generated_tokens >= result.usage.completion_tokens


# -- the reference --------------------------------------------------------------------------------


def test_every_hook_is_in_the_hooks_table() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    hooks = [name for name, fn in vars(hookspecs).items() if hasattr(fn, f"{hookspecs.PROJECT}_spec")]
    assert len(hooks) == 5
    for name in hooks:
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"| `{name}({params})` |" in text, name


def test_the_register_commands_example_adds_a_command() -> None:
    [code] = [body for lang, info, body in guide_blocks()
              if lang == "python" and not info and "def register_commands" in body]
    module = types.ModuleType("guide_commands")
    exec(compile(code, "docs/plugins.md", "exec"), module.__dict__)  # noqa: S102 - our own documentation
    import typer

    app = typer.Typer()

    @app.command()
    def other() -> None:  # a second command, so the app is a group with named commands
        """Unrelated."""

    register_plugin_commands(app, load_plugins(autoload=False, extra_plugins=[module], builtins=False))
    result = CliRunner().invoke(app, ["keyword-words", "two   words"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "two words\n"


#: where the classes of the reference live
MODULES = (components, sessions, core_types)


def _real_class(name: str) -> ast.ClassDef:
    for module in MODULES:
        cls = getattr(module, name, None)
        if isinstance(cls, type) and cls.__module__ == module.__name__:
            return ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]  # type: ignore[return-value]
    raise AssertionError(f"the guide's reference shows class {name}, which is in none of {MODULES}")


def _statements(cls: ast.ClassDef) -> dict[str, str]:
    """Each public statement of a class body by name: the signature of a method (decorators, args,
    return type), the whole line of a field or class attribute. Docstrings and bodies are ignored."""
    out = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            if node.name.startswith("_") and node.name not in ("__init__", "__len__"):
                continue
            decorators = " ".join(f"@{ast.unparse(d)}" for d in node.decorator_list)
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            out[node.name] = f"{decorators} def {node.name}({ast.unparse(node.args)}){returns}".strip()
        elif isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            out[ast.unparse(target)] = ast.unparse(node)
    return out


def _header(cls: ast.ClassDef) -> str:
    decorators = " ".join(f"@{ast.unparse(d)}" for d in cls.decorator_list)
    return f"{decorators} class {cls.name}({', '.join(ast.unparse(b) for b in cls.bases)})".strip()


def documented_classes() -> list[ast.ClassDef]:
    found = []
    for lang, info, body in guide_blocks():
        if lang == "python" and info == "signatures":
            found += [n for n in ast.parse(body).body if isinstance(n, ast.ClassDef)]
    return found


def test_the_reference_covers_every_plugin_facing_class() -> None:
    names = {c.name for c in documented_classes()}
    assert {
        "ComponentConfig", "Component", "Generator", "Scorer", "Selector", "Aggregator", "SessionBatch",
        "Example", "Candidate", "Segment", "Member", "GenerationSettings", "EnsembleContext",
        "Result", "Attribution", "Usage",
    } <= names


@pytest.mark.parametrize("doc", documented_classes(), ids=lambda c: c.name)
def test_reference_signatures_match_the_code(doc: ast.ClassDef) -> None:
    real = _real_class(doc.name)
    assert _header(doc) == _header(real)
    assert _statements(doc) == _statements(real), f"docs/plugins.md, class {doc.name}"


def test_the_readme_links_the_guide() -> None:
    assert "(docs/plugins.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
