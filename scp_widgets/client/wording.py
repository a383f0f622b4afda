"""Small pieces of English shared by the messages: "1 server", "2 servers"."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """'1 server', '2 servers', '0 servers' (regular plurals only: every noun we count takes an s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def a_type(value: object) -> str:
    """'a str', 'an int': the type of what the user gave, for a one-sentence error."""
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"
