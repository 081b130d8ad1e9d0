"""The xlwings Lite add-in: one main.py carrying cptbill's Excel modules, and its requirements.txt."""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.metadata
import io
import re
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cptbill
from cptbill.errors import CptbillError

#: The module Excel imports (the formulas and scripts), and what main.py hands to xlwings Lite.
ENTRY = "cptbill.excel"
FORMULAS = ("cptbestcode", "cptcode", "cptexpected", "cptflags", "cptunits")
SCRIPTS = ("recode", "report", "import_era", "claims")
#: The first line of every main.py this module writes: `cptbill addin` overwrites only those.
MARKER = "# cptbill add-in for xlwings Lite"
#: Packages Pyodide installs from its own repository: their version follows Pyodide's.
FROM_PYODIDE = frozenset({"pydantic"})
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_LINE = 100  # base64 characters per line of main.py


@dataclass(frozen=True)
class Bundle:
    """What `cptbill addin` writes, and what it is made of."""

    modules: dict[str, bytes]  # archive path ("cptbill/units.py") -> source
    requirements: tuple[str, ...]  # "xlwings>=0.37.8", ...
    main_py: str
    requirements_txt: str
    archive_size: int  # bytes of the compressed archive


def module_closure(entry: str = ENTRY) -> dict[str, Path]:
    """The cptbill modules `entry` imports, directly or through each other (function-level imports too)."""
    package = Path(cptbill.__file__).parent
    found: dict[str, Path] = {}
    pending = ["cptbill", entry]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        path = package.joinpath(*name.split(".")[1:]).with_suffix(".py")
        if name == "cptbill":
            path = package / "__init__.py"
        if not path.is_file():
            raise CptbillError(f"cptbill's module {name} is missing from {package}.")
        found[name] = path
        pending += [n for n in _imports(path) if n.startswith("cptbill.") or n == "cptbill"]
    return dict(sorted(found.items()))


def _imports(path: Path) -> set[str]:
    """Every module a source file imports, anywhere in it (cptbill names in full, others top-level)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "cptbill":  # from cptbill import book -> cptbill.book, when it is a module
                package = Path(cptbill.__file__).parent
                names.update(f"cptbill.{a.name}" for a in node.names if (package / f"{a.name}.py").is_file())
    return names


def third_party(modules: dict[str, Path]) -> set[str]:
    """Top-level names the modules import that are neither cptbill nor the standard library."""
    names = {name.split(".")[0] for path in modules.values() for name in _imports(path)}
    return {n for n in names if n != "cptbill" and n not in sys.stdlib_module_names and n != "__future__"}


def requirements(imported: set[str]) -> tuple[str, ...]:
    """The installed cptbill's own requirement lines for the distributions those imports come from."""
    distributions = importlib.metadata.packages_distributions()
    wanted = {_normal(d) for name in imported for d in distributions.get(name, [name])}
    lines = []
    for requirement in importlib.metadata.requires("cptbill") or []:
        if ";" in requirement:  # extras (test tools) and platform-only packages
            continue
        name = re.split(r"[\s<>=!~\[]", requirement, maxsplit=1)[0]
        if _normal(name) in wanted:
            lines.append(requirement.replace(" ", ""))
            wanted.discard(_normal(name))
    if wanted:
        raise CptbillError(f"cptbill does not declare {', '.join(sorted(wanted))} among its requirements.")
    return tuple(lines)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def archive(modules: dict[str, Path]) -> tuple[dict[str, bytes], bytes]:
    """The modules' sources and a reproducible zip of them (fixed times, sorted, deflated)."""
    sources = {f"{'/'.join(name.split('.'))}.py": path.read_bytes() for name, path in modules.items()}
    sources = {("cptbill/__init__.py" if k == "cptbill.py" else k): v for k, v in sources.items()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        for name in sorted(sources):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            bundle.writestr(info, sources[name])
    return dict(sorted(sources.items())), buffer.getvalue()


def digest(sources: dict[str, bytes]) -> str:
    """A short fingerprint of the archive's contents (not of its compressed bytes)."""
    sha = hashlib.sha256()
    for name, source in sorted(sources.items()):
        sha.update(name.encode() + b"\0" + source + b"\0")
    return sha.hexdigest()[:12]


_MAIN = '''\
{marker} (cptbill {version}): paste this whole file into the main.py tab of the xlwings Lite editor.
"""cptbill {version} for xlwings Lite (written by `cptbill addin`; see addin/README.md).

Formulas: CPTUNITS, CPTCODE, CPTEXPECTED, CPTFLAGS, CPTBESTCODE.
Scripts: recode and report (the month is Settings > Month to recode; blank = the active sheet),
import_era (every remittance under Import/Export, i.e. /data: .835 files, and 835s saved as .txt,
.edi, .era, .x12, .rmt or .dat; only their lines not on the Claims sheet yet),
claims (the month's 837P files and CMS-1500 PDFs, written to Import/Export to download).

cptbill's own modules ({count} files, {size:,} bytes) travel below as a zip archive, so the
requirements.txt tab needs only packages Pyodide installs itself. Do not edit the archive: run
`cptbill addin` again for a new version.
"""

import base64
import os
import sys
import tempfile

_ARCHIVE = """
{archive}
"""
_FILE = os.path.join(tempfile.gettempdir(), "cptbill-{version}-{digest}.zip")


def _load_cptbill() -> None:
    """Put the archive on the import path (zipimport), replacing any other cptbill already imported."""
    if not os.path.exists(_FILE):
        with open(_FILE, "wb") as out:
            out.write(base64.b64decode(_ARCHIVE))
    if _FILE not in sys.path:
        sys.path.insert(0, _FILE)
    for name in [n for n in sys.modules if n == "cptbill" or n.startswith("cptbill.")]:
        if not (getattr(sys.modules[name], "__file__", None) or "").startswith(_FILE):
            del sys.modules[name]


_load_cptbill()

from cptbill.excel import {names}  # noqa: E402

__all__ = [{quoted}]
'''


def build() -> Bundle:
    """The main.py and requirements.txt for the installed cptbill."""
    modules = module_closure()
    sources, packed = archive(modules)
    needed = requirements(third_party(modules))
    names = sorted((*FORMULAS, *SCRIPTS))
    encoded = base64.b64encode(packed).decode("ascii")
    main_py = _MAIN.format(
        marker=MARKER,
        version=cptbill.__version__,
        count=len(sources),
        size=sum(len(s) for s in sources.values()),
        archive="\n".join(textwrap.wrap(encoded, _LINE)),
        digest=digest(sources),
        names=", ".join(names),
        quoted=", ".join(f'"{n}"' for n in names),
    )
    lines = [
        f"# cptbill {cptbill.__version__} for xlwings Lite: paste this into the requirements.txt tab "
        "(written by `cptbill addin`).",
        "# pydantic comes from Pyodide's own repository (its version follows Pyodide), the others from PyPI.",
        *needed,
    ]
    return Bundle(
        modules=sources,
        requirements=needed,
        main_py=main_py,
        requirements_txt="\n".join(lines) + "\n",
        archive_size=len(packed),
    )


def bundled_sources(main_py: str) -> dict[str, bytes]:
    """The modules inside a main.py this module wrote (for checks and tests)."""
    match = re.search(r'^_ARCHIVE = """\n(.*?)\n"""$', main_py, re.S | re.M)
    if match is None:
        raise CptbillError("This main.py carries no cptbill archive.")
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(match.group(1)))) as bundle:
        return {name: bundle.read(name) for name in sorted(bundle.namelist())}


def without_archive(main_py: str) -> str:
    """main.py with the archive's text left out (what must match between two builds)."""
    return re.sub(r'^_ARCHIVE = """\n.*?\n"""$', '_ARCHIVE = """..."""', main_py, flags=re.S | re.M)


def write_addin(folder: Path) -> tuple[Bundle, Path, Path]:
    """Write main.py and requirements.txt into the folder; a main.py cptbill did not write is kept."""
    if not folder.is_dir():
        raise CptbillError(f"The folder {folder} does not exist.")
    main, reqs = folder / "main.py", folder / "requirements.txt"
    for path in (main, reqs):
        if path.exists() and not _ours(path):
            raise CptbillError(f"{path} exists and was not written by cptbill; choose another folder.")
    bundle = build()
    main.write_text(bundle.main_py, encoding="utf-8", newline="\n")
    reqs.write_text(bundle.requirements_txt, encoding="utf-8", newline="\n")
    return bundle, main, reqs


def _ours(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as text:
            first = text.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return first.startswith(MARKER) or first.startswith("# cptbill ")


__all__ = ["Bundle", "build", "bundled_sources", "module_closure", "without_archive", "write_addin"]
