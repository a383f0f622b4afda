"""A bulk lock in a child process, for the journal tests that kill it or starve its disk (not a test module).

usage: python journal_child.py IDS_FILE ENDPOINT JOURNAL [FILE_SIZE_LIMIT]
Prints the frame's row count and attrs as one JSON line when the run returns.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

import scp_widgets
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY


def main() -> None:
    ids_file, endpoint, journal = sys.argv[1:4]
    if len(sys.argv) > 4:  # a disk that fills: writes past this size fail with EFBIG, as a full disk's do
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = int(sys.argv[4])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    frame = scp_widgets.lock(
        Path(ids_file).read_text().split(), endpoint=endpoint, access_key=DEMO_ACCESS_KEY,
        secret_key=DEMO_SECRET_KEY, journal=journal, concurrency=16,
    )  # fmt: skip
    attrs = {k: frame.attrs.get(k) for k in ("counts", "summary", "journal_error", "complete")}
    print(json.dumps({"rows": len(frame), "ids": list(frame.server_id), **attrs}), flush=True)


if __name__ == "__main__":
    main()
