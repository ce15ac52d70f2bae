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
    assert meta["project"]["scripts"]["bellscope"] == "runs._cli:main"


def test_readme_opens_with_the_two_commands_and_ci_calls_the_test_command():
    text = (ROOT / "README.md").read_text()
    info_line, *lines = text.split("```")[1].split("\n")  # the first line is the block's info string
    cmds = [c.strip() for c in lines if c.strip() and not c.strip().startswith("#")]
    assert len(cmds) == 2, cmds
    assert cmds[-1] in (ROOT / ".ci" / "run").read_text()
