"""The xlwings Lite bundle: `cptbill addin`, what main.py carries, and the committed addin/ being current."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cptbill.addin import MARKER, build, bundled_sources, without_archive
from cptbill.cli import main

ROOT = Path(__file__).resolve().parent.parent
ADDIN = ROOT / "addin"
REGENERATE = "addin/ is stale: regenerate it with `cptbill addin addin` (README, For developers)"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_committed_addin_is_what_cptbill_addin_writes() -> None:
    bundle = build()
    committed = (ADDIN / "main.py").read_text(encoding="utf-8")
    # The archive is compared by its contents: a zlib build may compress the same bytes differently.
    assert bundled_sources(committed) == bundle.modules, REGENERATE
    assert without_archive(committed) == without_archive(bundle.main_py), REGENERATE
    assert (ADDIN / "requirements.txt").read_text(encoding="utf-8") == bundle.requirements_txt, REGENERATE


def test_the_bundle_holds_what_excel_uses_and_nothing_else() -> None:
    modules = set(build().modules)
    for needed in ("excel", "book", "plan", "schema", "report", "history", "era", "units", "models"):
        assert f"cptbill/{needed}.py" in modules
    for left_out in ("xlsx", "cli", "template", "addin", "safefile"):  # openpyxl, typer, files on disk
        assert f"cptbill/{left_out}.py" not in modules
    assert "cptbill/__init__.py" in modules and all(m.endswith(".py") for m in modules)


def _top_level_imports(source: bytes) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_bundle_imports_nothing_outside_itself_and_its_requirements() -> None:
    main_py = (ADDIN / "main.py").read_text(encoding="utf-8")
    sources = bundled_sources(main_py)
    required = [Requirement(line) for line in build().requirements]
    provided = importlib.metadata.packages_distributions()
    allowed = {
        module
        for module, distributions in provided.items()
        if any(d.lower() in {r.name.lower() for r in required} for d in distributions)
    }
    assert {"xlwings", "pydantic", "pyx12"} <= allowed
    inside = {name.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for name in sources}
    for name, source in {**sources, "main.py": main_py.encode()}.items():
        for imported in _top_level_imports(source):
            top = imported.split(".")[0]
            if top == "cptbill":
                # `from cptbill import book` names a module; `from cptbill.x import f` a function in one.
                module = imported if imported in inside else imported.rsplit(".", 1)[0]
                assert module in inside, f"{name} imports {imported}, which the bundle lacks"
            else:
                assert top in sys.stdlib_module_names or top == "__future__" or top in allowed, (
                    f"{name} imports {imported}, which neither the standard library nor "
                    "requirements.txt provides"
                )


def test_requirements_name_only_packages_pyodide_installs() -> None:
    bundle = build()
    names = {Requirement(line).name for line in bundle.requirements}
    assert names == {"xlwings", "pydantic", "pyx12"}
    for line in bundle.requirements:
        requirement = Requirement(line)
        assert requirement.url is None and requirement.marker is None and not requirement.extras
    assert "cptbill" not in bundle.requirements_txt.lower().split("#")[-1]
    assert "http" not in "".join(bundle.requirements)


def test_cptbill_addin_writes_the_two_files_and_reports_the_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "addin", str(tmp_path))
    assert status == 0
    bundle = build()
    assert (tmp_path / "main.py").read_text(encoding="utf-8").startswith(MARKER)
    assert bundled_sources((tmp_path / "main.py").read_text(encoding="utf-8")) == bundle.modules
    assert (tmp_path / "requirements.txt").read_text(encoding="utf-8") == bundle.requirements_txt
    assert f"{len(bundle.modules)} modules" in out and "KB" in out
    # Its own files it overwrites (a new version); anybody else's it keeps.
    assert run(capsys, "addin", str(tmp_path))[0] == 0
    (tmp_path / "main.py").write_text("print('my own code')\n", encoding="utf-8")
    status, _, err = run(capsys, "addin", str(tmp_path))
    assert status == 2 and "was not written by cptbill" in err and "Traceback" not in err
    assert (tmp_path / "main.py").read_text(encoding="utf-8") == "print('my own code')\n"
    status, _, err = run(capsys, "addin", str(tmp_path / "missing"))
    assert status == 2 and "does not exist" in err
