"""The one exception type a user ever sees: a one-line message, no traceback."""


class TunesmithError(Exception):
    """A user's mistake or an environment problem, explained in one line.

    The message names the file, the line or field, what is wrong and what to do.
    The CLI prints it after ``error:`` and exits with status 2.
    """

    exit_code = 2
