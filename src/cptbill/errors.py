"""The one exception type for mistakes a user must fix (caught once at each door)."""


class CptbillError(Exception):
    """A problem the user must fix; its message is one clear sentence without client data."""


class UnitsError(CptbillError, ValueError):
    """Minutes, a code or a unit rule that the unit functions cannot use."""
