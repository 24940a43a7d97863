"""The one exception type for a user's bad input, and the machine's refusals worded for a user.

Anything raised as ``UserError`` is printed by the CLI as a single line (no traceback) and
the process exits with status 2 (the UI shows the same line). The message should name the
file or field and the fix. :func:`os_error_line` words the OS errors a user can act on.
"""

from __future__ import annotations

import errno

NOT_WRITABLE = "check its permissions, or write elsewhere"
DISK_FULL = "the disk is full: free some space or write elsewhere (nothing half-written was left)"
WRITE_ERRORS = {errno.EACCES: NOT_WRITABLE, errno.EPERM: NOT_WRITABLE, errno.EROFS: NOT_WRITABLE,
                errno.ENOSPC: DISK_FULL, errno.EDQUOT: DISK_FULL}


class UserError(Exception):
    """Bad input from the user: missing file, corrupt image, bad config value, ..."""


def os_error_line(e: OSError) -> str | None:
    """One line for a write the machine refused (permissions, read-only, disk full), else None."""
    if e.errno not in WRITE_ERRORS:
        return None
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror}; {WRITE_ERRORS[e.errno]}"
