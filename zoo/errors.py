"""User-facing errors: the CLI prints their message on one line and exits with code 2."""


class ZooError(Exception):
    """A problem with the user's input (a name, a file, an option), not a bug."""


class DataError(ZooError):
    """Missing, corrupt or unexpected input data; the message names the file and what was expected."""
