"""xlwings Lite entry point: the cptbill formulas and the recode script (all code lives in the package)."""

from cptbill.excel import cptbestcode, cptcode, cptexpected, cptflags, cptunits, recode, report

__all__ = ["cptbestcode", "cptcode", "cptexpected", "cptflags", "cptunits", "recode", "report"]
