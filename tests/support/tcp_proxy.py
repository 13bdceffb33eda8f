"""A TCP proxy a test can cut and restore: the network to a real server "goes down"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import make_url

from callcenter.store import create_engine, session_factory
from callcenter.store.engine import SessionFactory


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to a target; :meth:`cut` kills every connection and refuses new ones.

    The port stays the same across :meth:`cut` / :meth:`restore`, so clients (a
    connection pool, an HTTP client) reconnect to it by themselves once it is back.
    """

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = port
        self.connections = 0  # accepted since start (tests can tell reconnects happened)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def up(self) -> bool:
        """Whether the proxy accepts connections."""
        return self._server is not None

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after a cut)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def restore(self) -> None:
        """Accept connections again after a :meth:`cut`."""
        await self.start()

    async def cut(self) -> None:
        """Stop listening (new connections are refused) and reset every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, as a broken network or a dead server gives
        pipes = list(self._pipes)
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def close(self) -> None:
        """Cut for good."""
        await self.cut()

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _accept(self, client_reader: asyncio.StreamReader,
                      client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            async with asyncio.timeout(5):
                server_reader, server_writer = await asyncio.open_connection(*self.target)
        except (OSError, TimeoutError):
            client_writer.transport.abort()
            return
        ends = (client_writer, server_writer)
        self._writers.update(ends)
        loop = asyncio.get_running_loop()
        for source, sink in ((client_reader, server_writer), (server_reader, client_writer)):
            pipe = loop.create_task(self._pump(source, sink, ends), name="tcp-proxy-pipe")
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                    ends: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # Either side closing closes the pair (no half-open connections are left behind).
            for writer in ends:
                self._writers.discard(writer)
                writer.close()


@dataclass
class ProxiedStore:
    """The test store reached through a :class:`TcpProxy` the test can cut."""

    proxy: TcpProxy
    sessions: SessionFactory


@asynccontextmanager
async def proxied_store(database_url: str, **engine_options: Any) -> AsyncIterator[ProxiedStore]:
    """Sessions over the store at ``database_url`` through a proxy (PostgreSQL only: the
    test is skipped on SQLite, which is not reached over the network)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("the store is reached over TCP only on PostgreSQL")
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        engine = create_engine(url.set(host="127.0.0.1", port=proxy.port)
                               .render_as_string(hide_password=False), **engine_options)
        try:
            yield ProxiedStore(proxy, session_factory(engine))
        finally:
            await engine.dispose()
