"""The one exception type the CLI turns into a red line and a non-zero exit (never a traceback)."""


class KernelkitError(Exception):
    """A user-facing failure: the message says what is wrong and, where possible, how to fix it."""

    def __init__(self, message: str, *, exit_code: int = 1, details: list[str] | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.details = details or []
