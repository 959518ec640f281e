"""Command-line interface ``iastm``: parses arguments and calls the library, nothing more.

Exit codes: 0 ok; 2 bad input (one line on stderr, no traceback); 1 unexpected error.
Set ``IASTM_DEBUG=1`` to see the traceback of an unexpected error.
"""

from __future__ import annotations

import os
import sys

import typer

from .cli_body import app as body_app
from .cli_fit import register as register_fit_commands
from .cli_report import register as register_report_commands
from .cli_sweep import register as register_sweep_commands
from .cli_tool import register as register_tool_commands
from .errors import IastmError

app = typer.Typer(
    name="iastm",
    help="Design, check and export IASTM instruments (mm, N, kPa, degrees).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
register_tool_commands(app)
register_fit_commands(app)
register_report_commands(app)
register_sweep_commands(app)
app.add_typer(body_app, name="body", help="Body surfaces, treatment sites and tissue data.")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map input errors to exit 2 and bugs to exit 1, both as one line."""
    try:
        # without standalone mode click returns the code of a typer.Exit raised inside a
        # command (e.g. 130 after Ctrl-C in a sweep) instead of raising it
        code = app(args=argv, prog_name="iastm", standalone_mode=False)
    except IastmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except Exception as exc:
        # usage errors of typer's vendored click: they know how to show themselves
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        if os.environ.get("IASTM_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (set IASTM_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
