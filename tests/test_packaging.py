"""The top-level names are shared with unrelated PyPI packages: they must resolve inside this repo."""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["bellcore", "certify", "surrogates", "discover", "runs"])
def test_package_resolves_inside_repo(name):
    mod = importlib.import_module(name)
    assert mod.__file__ is not None, f"{name} is a namespace package, not ours"
    assert Path(mod.__file__).resolve().is_relative_to(ROOT), mod.__file__
    assert mod.__doc__ and len(mod.__doc__) > 20


def test_console_script_declared():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["bellscope"] == "runs._main:main"


def test_readme_opens_with_the_two_commands_and_ci_calls_the_test_command():
    text = (ROOT / "README.md").read_text()
    info_line, *lines = text.split("```")[1].split("\n")  # the first line is the block's info string
    cmds = [c.strip() for c in lines if c.strip() and not c.strip().startswith("#")]
    assert len(cmds) == 2, cmds
    assert cmds[-1] in (ROOT / ".ci" / "run").read_text()


def test_code_cites_the_projects_own_docs():
    """Every ``docs/<page>.md`` cited in code, tests or README exists; nothing points outside the repository."""
    import re

    cited, outside = set(), []
    files = [ROOT / "README.md", *ROOT.glob("docs/*.md")]
    for pkg in ("bellcore", "certify", "surrogates", "discover", "runs", "tests", "benchmarks"):
        files += list((ROOT / pkg).rglob("*.py"))
    for f in files:
        text = f.read_text()
        cited |= set(re.findall(r"docs/([\w-]+\.md)", text))
        if "SCIENCE" + ".md" in text or "../" + "shared" in text:
            outside.append(f.name)
    assert not outside, f"cite docs/ instead of files outside the repository: {outside}"
    missing = sorted(c for c in cited if not (ROOT / "docs" / c).exists())
    assert not missing, missing
    assert {"index.md", "conventions.md", "measures.md", "golden.md", "samplers.md", "run-files.md", "performance.md"} <= {
        p.name for p in (ROOT / "docs").glob("*.md")
    }
