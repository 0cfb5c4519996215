"""The one error type a user can cause. Its message is a single line that names the
file, line or key and says what to do; the CLI prints it without a traceback."""


class ClonekitError(Exception):
    """A user-facing error: bad file, bad config, missing GPU, API down, ..."""

    exit_code = 2


class ParseError(ClonekitError):
    """An export that cannot be read. Always names the file (and line when known)."""

    def __init__(self, source: str, problem: str, hint: str = "", line: int | None = None):
        where = f"{source}:{line}" if line is not None else source
        msg = f"{where}: {problem}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)
        self.source = source
        self.line = line


class ConfigError(ClonekitError):
    """A config value or key that is wrong. Names the key."""


class Cancelled(ClonekitError):
    """The user cancelled (Ctrl-C, a cancel button). Nothing partial is left behind."""

    exit_code = 130
