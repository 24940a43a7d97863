"""The one exception type for a user's bad input.

Anything raised as ``UserError`` is printed by the CLI as a single line (no traceback) and
the process exits with status 2. The message should name the file or field and the fix.
"""


class UserError(Exception):
    """Bad input from the user: missing file, corrupt image, bad config value, ..."""
