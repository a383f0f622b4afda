"""`EmulatorServer`: the emulator under uvicorn on a real loopback socket, in a background thread."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

import uvicorn

from .app import Emulator
from .protocol import DroppingH11Protocol

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


class _Server(uvicorn.Server):
    """Tells the starting thread when the socket is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.listening.set()


class EmulatorServer:
    """`with EmulatorServer(emulator) as server: httpx.get(server.url + "/")`.

    `port=0` picks a free port; `.port` and `.url` give the real one once started.
    """

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Returns once the socket accepts connections; raises if uvicorn could not start."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        config = uvicorn.Config(
            self.emulator.app,
            host=self.host,
            port=self._requested_port,
            http=DroppingH11Protocol,
            lifespan="off",
            log_config=None,  # leave the host program's logging alone
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        server = _Server(config)
        thread = threading.Thread(target=self._serve, args=(server,), name="scp-emulator-server", daemon=True)
        self._server, self._thread, self._failure = server, thread, None
        thread.start()
        while not server.listening.wait(0.05):
            if not thread.is_alive():
                self._server = self._thread = None
                raise RuntimeError(f"the emulator could not listen on {self.host}:{self._requested_port}") from (
                    self._failure
                )
        sockets = server.servers[0].sockets
        self._port = int(sockets[0].getsockname()[1])
        return self

    def _serve(self, server: _Server) -> None:
        try:
            server.run()
        except BaseException as exc:  # uvicorn reports a failed bind with SystemExit
            self._failure = exc

    def stop(self) -> None:
        """Stops accepting, lets in-flight requests finish, and joins the thread."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self._port = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
