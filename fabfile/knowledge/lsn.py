"""A WAL location (LSN), as PostgreSQL prints it ('16/B374D848'): the one
parser, compared and subtracted as the byte position it is."""
import re

TEXT = re.compile(r"([0-9A-F]{1,8})/([0-9A-F]{1,8})\Z")


class Lsn(int):
    """A WAL byte position; str() prints it as PostgreSQL does."""

    @classmethod
    def parse(cls, text):
        """'0/3000028' -> Lsn(50331688); ValueError for anything else (a host's
        answer is read strictly)."""
        found = TEXT.match(str(text).strip().upper())
        if not found:
            raise ValueError(f"not a WAL location: {text!r}")
        return cls((int(found.group(1), 16) << 32) + int(found.group(2), 16))

    @classmethod
    def parse_or_none(cls, text):
        """An Lsn, or None for an empty or malformed answer (a server that has
        none to give, such as a standby that received nothing yet)."""
        try:
            return cls.parse(text)
        except ValueError:
            return None

    def __str__(self):
        return f"{self >> 32:X}/{self & 0xFFFFFFFF:X}"

    def __repr__(self):
        return f"Lsn('{self}')"

    def __sub__(self, other):
        """Bytes between two locations: a plain int, not a location."""
        return int(self) - int(other)
