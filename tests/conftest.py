"""Shared fixtures: real servers on free ports, a real redis-server, an FCM stand-in, users'
sockets, the events services send."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from realtime.emit import Emitted, capture_emits
from tests.support.conversations import Team
from tests.support.fcm_standin import FcmStandIn
from tests.support.node import NodeClients
from tests.support.servers import RedisServer, ServerProcess

# the adapter's own end-to-end tests: the test-only namespaces of tests.support.namespaces
ADAPTER_SETTINGS = "tests.support.settings_adapter"


@pytest.fixture(scope="session")
def server_database() -> str:
    """One migrated SQLite file shared by the session's servers."""
    path = str(Path(tempfile.mkdtemp(prefix="gs-db-")) / "db.sqlite3")
    ServerProcess(database=path).migrate()
    return path


@pytest.fixture(scope="session")
def server(server_database: str) -> Iterator[ServerProcess]:
    """The service in test settings, in-memory channel layer, one process."""
    process = ServerProcess(database=server_database).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def conformance_server(server_database: str) -> Iterator[ServerProcess]:
    """The server in conformance settings (echo handlers, short ping timings)."""
    process = ServerProcess("config.settings.conformance", database=server_database).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def adapter_server(server_database: str) -> Iterator[ServerProcess]:
    """The test-only namespaces, in-memory channel layer, one process."""
    process = ServerProcess(ADAPTER_SETTINGS, database=server_database).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def adapter_cluster(
    redis_server: RedisServer, server_database: str
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes with the test-only namespaces, sharing rooms through one redis."""
    env = {"REDIS_URL": redis_server.url}
    first = ServerProcess(ADAPTER_SETTINGS, env=env, database=server_database).start()
    try:
        second = ServerProcess(ADAPTER_SETTINGS, env=env, database=server_database).start()
    except Exception:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    redis = RedisServer().start()
    yield redis
    redis.stop()


@pytest.fixture
def server_factory(server_database: str) -> Iterator:
    """Start extra servers (e.g. several processes on one redis); all stopped afterwards."""
    started: list[ServerProcess] = []

    def start(settings: str = "config.settings.test", **env: str) -> ServerProcess:
        process = ServerProcess(settings, env=env, database=server_database).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def fcm() -> Iterator[FcmStandIn]:
    """A local stand-in for Google's OAuth and FCM endpoints (see `firebase_env`)."""
    standin = FcmStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
async def team() -> AsyncIterator[Team]:
    """Users of one fresh account connected to servers; every socket closed at the end."""
    async with Team() as users:
        yield users


@pytest.fixture
def emitted() -> Iterator[list[Emitted]]:
    """Every event the services send once their transactions commit."""
    with capture_emits() as recorded:
        yield recorded


@pytest.fixture
async def node() -> AsyncIterator[NodeClients]:
    """Stock npm socket.io-client instances driven from the test (tests/node/driver.mjs)."""
    clients = await NodeClients().start()
    yield clients
    await clients.stop()
