"""Errors the tool reports to a user: each names where the bad input is and what was expected."""

from __future__ import annotations


class RooflineError(Exception):
    """Base class for errors caused by user input; the CLI prints them and exits with code 2."""


class SpecError(RooflineError):
    """A spec file (or a value in it) is malformed or inconsistent.

    `where` is the file (or the id the user gave), `field` a dotted path inside it.
    """

    def __init__(self, where: str, message: str, field: str | None = None) -> None:
        self.where = where
        self.field = field
        self.message = message
        loc = f"{where}: {field}" if field else where
        super().__init__(f"{loc}: {message}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str | None]]:
        # rebuilt from its own arguments, not the formatted text: it crosses process boundaries
        # (a process pool's worker raising it) as itself
        return (type(self), (self.where, self.message, self.field))


class WorkloadError(RooflineError):
    """A workload or option given on the command line or to the API makes no sense."""
