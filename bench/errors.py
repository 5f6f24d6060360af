"""The one kind of error that is the user's mistake: said in one line, never with a traceback."""


class UserError(ValueError):
    """Input the harness cannot use (a file, a name, an option), told in one line that says what
    was wrong; the command line ends with it and exit status 2. Any other exception is a bug and
    keeps its traceback."""
