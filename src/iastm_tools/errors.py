"""Error types a user can act on.

Every error raised for bad *input* derives from :class:`IastmError`; the CLI turns it into
one line on stderr and exit code 2. Anything else is a bug (exit code 1).
"""

from __future__ import annotations


class IastmError(ValueError):
    """Bad input: a file, field or argument the user can correct."""


class FieldError(IastmError):
    """An input file or mapping has a bad field.

    ``field`` is the path of the offending field (e.g. ``segments[2].edge.apex_radius_mm``),
    ``value`` what was given, ``allowed`` what would be accepted and ``source`` the file
    it came from. The message reads ``source: field: what is wrong (got value); allowed: ...``.
    """

    def __init__(
        self,
        field: str,
        message: str,
        *,
        value: object = None,
        allowed: str | None = None,
        source: str | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.source = source
        parts = [f"{source}: " if source else "", f"{field}: {message}"]
        if value is not None:
            parts.append(f" (got {value!r})")
        if allowed:
            parts.append(f"; allowed: {allowed}")
        super().__init__("".join(parts))


class ProfileError(FieldError):
    """A tool profile is invalid (see :class:`FieldError` for the attributes)."""


class OutputExistsError(IastmError):
    """An output path exists and ``force`` was not given."""
