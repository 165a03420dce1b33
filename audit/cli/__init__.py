"""The ``advaudit`` command line: the one place that imports click, the victims and the demos,
and the one place that turns exceptions into messages and exit codes.

Exit codes a CI job can rely on: 0 done, 1 a gate failed (``audit --fail-above``, or ``compare``
found robustness regressed beyond ``--tolerance``), 2 a usage or input error (one line naming
the file or option and the fix), 3 an internal error (one line plus the path of a saved
traceback), 130 interrupted. An OSError of the user's environment (disk full, read-only,
permission denied, not a folder, busy) is theirs to fix, so it is exit 2 too, in one line naming
the path.

The top floor: may import every part of ``audit`` (through ``audit.pipeline`` for an audit),
the victims and the demos; nothing imports it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback

import click

from ..version import __version__
from .quiet import import_tensorflow_quietly

import_tensorflow_quietly()

from ..errors import AuditError  # noqa: E402

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class CommandError(click.ClickException):
    """A library error shown as ``Error: <one line>`` with its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def save_traceback() -> str:
    """Write the current exception's traceback to a log file and return its path."""
    fd, path = tempfile.mkstemp(prefix=f"advaudit-crash-{time.strftime('%Y%m%d-%H%M%S')}-",
                                suffix=".log")
    with os.fdopen(fd, "w") as fh:
        fh.write(f"advaudit {__version__}: {' '.join(sys.argv)}\n")
        traceback.print_exc(file=fh)
    return path


def environment_error(exc: OSError) -> str | None:
    """One line for an error of the user's environment (disk full, read-only file system,
    permission denied, not a folder, busy ...): exit 2, since no report from us can fix it.
    Writes are atomic, so whatever was written before it is intact."""
    from ..paths import os_error_text

    return os_error_text(exc)


def internal_error(exc: BaseException) -> CommandError:
    """Our bug: one line plus the path of the saved traceback (exit 3)."""
    log = save_traceback()
    text = " ".join(str(exc).split())[:200]
    return CommandError(f"internal error ({type(exc).__name__}: {text}); the traceback is in "
                        f"{log}: please report it", EXIT_INTERNAL)


class AdvauditGroup(click.Group):
    """Maps exceptions raised anywhere below to one line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AuditError as exc:
            raise CommandError(str(exc), exc.exit_code) from None
        except (click.exceptions.ClickException, click.exceptions.Exit,
                click.exceptions.Abort):
            raise
        except KeyboardInterrupt as exc:
            click.echo(str(exc) or "interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except OSError as exc:
            text = environment_error(exc)
            if text is None:
                raise internal_error(exc) from None
            raise CommandError(text, EXIT_USAGE) from None
        except Exception as exc:
            raise internal_error(exc) from None


@click.group(cls=AdvauditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="advaudit")
def main() -> None:
    """Adversarial-robustness audits of Keras image classifiers."""


from .audit_cmd import audit  # noqa: E402
from .bench_cmd import bench  # noqa: E402
from .compare_cmd import compare  # noqa: E402
from .demo_cmd import demo  # noqa: E402
from .merge_cmd import merge  # noqa: E402
from .report_cmd import report  # noqa: E402
from .victims_cmd import victims  # noqa: E402

for command in (audit, report, compare, merge, bench, victims, demo):
    main.add_command(command)
