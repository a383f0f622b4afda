"""Small pieces of English shared by the messages: "1 server", "2 servers"."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """'1 server', '2 servers', '2 pasted entries' (a consonant then y: ies; else an s)."""
    if n == 1:
        return f"{n} {noun}"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return f"{n} {noun[:-1]}ies"
    return f"{n} {noun}s"


def a_type(value: object) -> str:
    """'a str', 'an int': the type of what the user gave, for a one-sentence error."""
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"
