"""The one exception type the CLI turns into a red line and a non-zero exit (never a traceback)."""


class KernelkitError(Exception):
    """A user-facing failure: the message says what is wrong and, where possible, how to fix it."""

    def __init__(self, message: str, *, exit_code: int = 1, details: list[str] | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.details = details or []


def shown(text: str, limit: int | None = 60) -> str:
    """`text` as a message shows it: control characters escaped (a newline reads \\n, NUL \\x00), so a message
    stays one line, and a long text cut in the middle (`limit` characters; None: never)."""
    escaped = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    if limit is not None and len(escaped) > limit:
        return f"{escaped[: limit - 20]}...{escaped[-12:]} ({len(text)} characters)"
    return escaped
