"""The README's first screen and docs/workbook.md stay true to the program."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cptbill import contract as c
from cptbill.contract import Flag

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONTRACT = (ROOT / "docs" / "workbook.md").read_text(encoding="utf-8")


def test_the_readme_starts_with_the_venv_and_the_two_commands() -> None:
    first = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert first[0].startswith("python3 -m venv .venv && . .venv/bin/activate")
    assert first[1].startswith("python3 -m pip install . && cptbill demo")
    assert first[2].startswith('python3 -m pip install ".[test]" && python3 -m pytest')
    assert README.index("```bash") < 1500  # on the first screen, after the short pitch
    for words in ("py -m venv .venv", ".venv\\Scripts\\activate", "in a new terminal", "needs the internet"):
        assert words in README, words


def test_the_readme_links_the_contract_in_the_repository() -> None:
    assert "[`docs/workbook.md`](docs/workbook.md)" in README
    assert "shared documents" not in README and "WORKBOOK.md" not in README


@pytest.mark.parametrize("flag", list(Flag))
def test_the_contract_documents_every_flag(flag: Flag) -> None:
    assert re.search(rf"^\| `{flag.value}` \|", CONTRACT, re.M), flag


def test_the_contract_documents_columns_aliases_and_settings() -> None:
    for name in (*c.SESSION_REQUIRED, *c.SESSION_OPTIONAL, *c.OWNED):
        assert f"| `{name}` |" in CONTRACT, name
    for aliases in c.ALIASES.values():
        for alias in aliases:
            assert f"`{alias}`" in CONTRACT, alias
    for setting in (c.DEFAULT_CODE, c.BLANK_SERVICE, c.DATE_ORDER, c.MONTH_TO_RECODE, c.UNIT_RULE):
        assert f"| `{setting}` |" in CONTRACT, setting
    for key in ('"as_it_stands"', '"rows"', "--all", "--version"):
        assert key in CONTRACT, key
