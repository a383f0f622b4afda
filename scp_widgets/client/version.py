"""The package version, kept in the lowest layer so the client can name itself in its User-Agent."""

__version__ = "0.1.0"
