"""The one place where exceptions become messages and exit codes, without typer: ``rdbtool serve``'s own start
(``python -m rdbtools.cli.serving``) reports its errors as every command does, without loading the parser."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

from rdbtools.errors import InputError, RdbtoolError

EXIT_OK = 0
EXIT_BAD_FILE = 1  # corrupt or unsupported input
EXIT_USAGE = 2  # usage error or unreadable file


def fail(message: str, code: int) -> None:
    print(f"rdbtool: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our exceptions into one located line on stderr and the documented exit code."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InputError as error:
            fail(str(error), EXIT_USAGE)
        except RdbtoolError as error:
            fail(str(error), EXIT_BAD_FILE)
        except BrokenPipeError:
            sys.stderr.close()  # the reader of our output went away (| head): not an error
            raise SystemExit(EXIT_OK) from None
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return run
