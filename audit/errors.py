"""User-facing errors: one line, exit code 2, never a traceback."""

import click


class AuditError(click.ClickException):
    """An error the user can fix (bad path, wrong model, missing credentials)."""

    exit_code = 2


class ModelError(AuditError):
    """The model file cannot be loaded or does not fit an image classifier."""


class ImageError(AuditError):
    """The image folder cannot be used at all (missing, empty)."""


class VictimError(AuditError):
    """A named victim cannot be obtained (no credentials, offline, bad weights)."""
