"""Shared test set-up: xlwings in its server mode, outside programs, small workbook builders."""

from __future__ import annotations

import os

# xlwings reads these when first imported: its Office.js/Lite decorators and
# `xlwings.server` then work without Excel (see PLATFORM.md).
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")
os.environ.setdefault("XLWINGS_ON_SERVER", "true")

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REQUIRE_EXTERNAL = os.environ.get("CPTBILL_REQUIRE_EXTERNAL") == "1"


def need(program: str, why: str) -> str:
    """Path of an outside program; skip (or fail when CPTBILL_REQUIRE_EXTERNAL=1) without it."""
    path = shutil.which(program)
    if path is None:
        message = f"{program} not found: {why}"
        if REQUIRE_EXTERNAL:
            pytest.fail(message + " (CPTBILL_REQUIRE_EXTERNAL=1 forbids skipping)")
        pytest.skip(message)
    return path


Convert = Callable[[Path, str], Path]


def soffice_convert(paths: Sequence[Path], fmt: str, outdir: Path, timeout: int = 600) -> list[Path]:
    """Open workbooks in one headless LibreOffice and save each as `fmt` in `outdir`; the results.

    A workbook LibreOffice cannot open gives no output file (it still exits 0): the assertion says which.
    """
    soffice = need(
        "soffice",
        "LibreOffice opens our workbooks in tests (apt-get install libreoffice-calc-nogui)",
    )
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                soffice, "--headless", "--norestore",
                f"-env:UserInstallation=file://{profile}",
                "--convert-to", fmt, "--outdir", str(outdir), *map(str, paths),
            ],
            check=True, capture_output=True, timeout=timeout,
        )  # fmt: skip
    results = [outdir / f"{path.stem}.{fmt.split(':')[0]}" for path in paths]
    for path, result in zip(paths, results, strict=True):
        assert result.exists(), f"LibreOffice could not open {path.name}"
    return results


@pytest.fixture(scope="session")
def libreoffice() -> Convert:
    """Open a workbook in LibreOffice headless and save it as `fmt` (xlsx, csv, pdf)."""
    need("soffice", "LibreOffice opens our workbooks in tests (apt-get install libreoffice-calc-nogui)")

    def convert(path: Path, fmt: str = "xlsx") -> Path:
        outdir = path.parent / f"lo-{fmt}-{path.stem}"
        outdir.mkdir(exist_ok=True)
        return soffice_convert([path], fmt, outdir, timeout=180)[0]

    return convert
