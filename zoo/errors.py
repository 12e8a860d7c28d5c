"""User-facing errors: the CLI prints their message on one line and exits with code 2."""

import sys


class ZooError(ValueError):
    """A problem with the user's input (a name, a file, an option, an argument), not a bug.

    A ValueError, so a caller of the Python API catches it as one; the CLI prints its message
    as the one line ``zoo: error: ...``: the same check gives the same message either way."""


class ReportedError(ZooError):
    """A failure a subprocess already reported on stderr; exit with its code, print nothing."""

    def __init__(self, exit_code: int):
        super().__init__(f"subprocess exited with {exit_code}")
        self.exit_code = exit_code


class WorkerDied(ZooError):
    """A subprocess the zoo started (the export worker) died without reporting why, e.g. killed
    by a signal; the message says so on one line."""


class DataError(ZooError):
    """Missing, corrupt or unexpected input data; the message names the file and what was expected."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (or its type name), for one-line errors."""
    return next(iter(str(error).strip().splitlines()), "") or type(error).__name__


def user_error(error_class, function, *args, **kwargs):
    """Call `function`; its ValueError (bad user input, e.g. from zoo.generate, which imports
    nothing of the zoo) becomes `error_class`, a one-line user error."""
    try:
        return function(*args, **kwargs)
    except ValueError as error:
        raise error_class(str(error)) from None


def report(error: BaseException) -> int:
    """Print a user error (or an interruption) as one line on stderr; the exit code for it."""
    if isinstance(error, ReportedError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        print("zoo: interrupted", file=sys.stderr)
        return 130
    print(f"zoo: error: {error}", file=sys.stderr)
    return 2
