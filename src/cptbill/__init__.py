"""cptbill: code massage-therapy sessions for insurance billing from an Excel workbook."""

from cptbill.errors import CptbillError, UnitsError
from cptbill.units import Rule, allocate, units

__version__ = "0.4.0"

__all__ = ["CptbillError", "Rule", "UnitsError", "__version__", "allocate", "units"]
