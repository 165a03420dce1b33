"""Errors a user can fix, as plain exceptions: the library raises them, only ``audit.cli`` turns
them into a one-line message and an exit code.

Every message names the file or option at fault and what to do instead, because it is all the
user will see (no traceback).
"""


class AuditError(Exception):
    """An error the user can fix (bad path, wrong model, bad option, missing credentials)."""

    exit_code = 2


class UsageError(AuditError):
    """An option or a combination of options that cannot work (``--norm l2 --attack bim``)."""


class ModelError(AuditError):
    """The model file cannot be loaded or does not fit an image classifier."""


class ImageError(AuditError):
    """The image folder cannot be used at all (missing, empty)."""


class VictimError(AuditError):
    """A named victim cannot be obtained (no credentials, offline, bad weights)."""


class ResultsError(AuditError):
    """A results file or output folder cannot be read or written as asked."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during an audit, after what was done has been saved; the message says where and
    how to continue (exit 130)."""
