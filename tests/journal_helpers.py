"""Shared by the journal tests: a journal whose disk fills (its writes fail with ENOSPC after some succeed),
and a transport that holds a run in flight."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from scp_widgets.engine.journal import Journal


class FillingFile:
    """A journal file whose writes fail with ENOSPC after `room` successful ones, as a full disk's do."""

    def __init__(self, inner: IO[str], room: int) -> None:
        self.inner, self.room = inner, room

    def write(self, text: str) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1
        return self.inner.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def fill_disk_after(monkeypatch: pytest.MonkeyPatch, room: list[int]) -> None:
    """Every journal opened from now on fills after `room[0]` writes (read when it opens)."""
    real_open = Journal.open.__func__  # type: ignore[attr-defined]

    def open_filling(cls: type[Journal], path: Path, header: dict[str, Any], *, fsync: bool = False) -> Journal:
        journal: Journal = real_open(cls, path, header, fsync=fsync)
        journal._file = FillingFile(journal._file, room[0])  # type: ignore[arg-type, assignment]
        return journal

    monkeypatch.setattr(Journal, "open", classmethod(open_filling))


class HeldTransport(httpx.AsyncBaseTransport):
    """Holds every POST until `gate` opens, so a run stays in flight while a second one starts."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.gate, self.held = inner, threading.Event(), threading.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.held.set()
            await asyncio.to_thread(self.gate.wait, 60)
        return await self.inner.handle_async_request(request)
