"""The storage backends (docs/storage.md): put + get of 1,000 objects of 100 KB and of one 64 MiB object,
through the folder store and the database store on a real PostgreSQL (fsync on, as in production), each beside
the bare library doing the same in the same run: plain open/write/fsync/rename for the folder, one psycopg
INSERT and SELECT of the same bytes for the database."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from plant.storage import CHUNK_SIZE, LocalStore
from plant.storage.database import DatabaseStore, database_engine

SMALL = 100_000
SMALL_COUNT = 1000
BIG = 64 * 2**20
_round = itertools.count()


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server for this module, with fsync on (the suite's server runs with it off)."""
    from tests.pgserver import PostgresServer, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL is not installed; scripts/setup.sh installs it")
    server = PostgresServer()
    url = server.start()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ALTER SYSTEM SET fsync = on"))
        conn.execute(text("SELECT pg_reload_conf()"))
    engine.dispose()
    yield url
    server.stop()


@pytest.fixture(scope="module")
def small_objects():
    return [os.urandom(SMALL) for _ in range(SMALL_COUNT)]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("storage-bench") / "big.pdf"
    with open(path, "wb") as fh:
        for _ in range(BIG // CHUNK_SIZE):
            fh.write(os.urandom(CHUNK_SIZE))
    return path


def _store(kind: str, postgres: str, tmp_path: Path):
    if kind == "local":
        return LocalStore(tmp_path / "state")
    return DatabaseStore(database_engine(postgres), cache_dir=tmp_path / "cache")


def _bare_put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def _bare_pg(postgres: str) -> psycopg.Connection:
    conn = psycopg.connect(postgres.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    conn.execute("CREATE TABLE IF NOT EXISTS bare (key text PRIMARY KEY, data bytea NOT NULL)")
    return conn


@pytest.mark.benchmark(group="storage-1000x100KB")
@pytest.mark.parametrize("kind", ["local", "database"])
def test_store_small_objects(benchmark, kind, postgres, small_objects, tmp_path):
    """1,000 puts of 100 KB, then 1,000 reads, through the store."""
    store = _store(kind, postgres, tmp_path)
    store.put("blobs/warm-up", b"")

    def run():
        n = next(_round)
        for i, data in enumerate(small_objects):
            store.put(f"blobs/{n}/{i:04d}.pdf", data)
        return sum(len(store.read(f"blobs/{n}/{i:04d}.pdf")) for i in range(SMALL_COUNT))

    assert benchmark.pedantic(run, rounds=2, iterations=1) == SMALL * SMALL_COUNT
    benchmark.extra_info["MB_per_s"] = round(2 * SMALL * SMALL_COUNT / 1e6 / benchmark.stats.stats.mean, 1)


@pytest.mark.benchmark(group="storage-1000x100KB")
@pytest.mark.parametrize("kind", ["bare-folder", "bare-psycopg"])
def test_bare_small_objects(benchmark, kind, postgres, small_objects, tmp_path):
    """The same 1,000 × 100 KB with the bare library."""
    conn = _bare_pg(postgres) if kind == "bare-psycopg" else None

    def run():
        n = next(_round)
        total = 0
        for i, data in enumerate(small_objects):
            if conn is None:
                _bare_put(tmp_path / "blobs" / str(n) / f"{i:04d}.pdf", data)
            else:
                conn.execute("INSERT INTO bare (key, data) VALUES (%s, %s)", (f"{n}/{i}", data))
        for i in range(SMALL_COUNT):
            if conn is None:
                total += len((tmp_path / "blobs" / str(n) / f"{i:04d}.pdf").read_bytes())
            else:
                row = conn.execute("SELECT data FROM bare WHERE key = %s", (f"{n}/{i}",)).fetchone()
                assert row is not None
                total += len(row[0])
        return total

    assert benchmark.pedantic(run, rounds=2, iterations=1) == SMALL * SMALL_COUNT
    benchmark.extra_info["MB_per_s"] = round(2 * SMALL * SMALL_COUNT / 1e6 / benchmark.stats.stats.mean, 1)
    if conn is not None:
        conn.close()


@pytest.mark.benchmark(group="storage-64MiB")
@pytest.mark.parametrize("kind", ["local", "database"])
def test_store_big_object(benchmark, kind, postgres, big_file, tmp_path):
    """One 64 MiB put streamed from a file, then streamed back (hashed), through the store."""
    store = _store(kind, postgres, tmp_path)

    def run():
        key = f"spool/{next(_round)}.pdf"
        with open(big_file, "rb") as fh:
            stored = store.put(key, fh)
        digest = hashlib.sha256()
        with store.open(key) as stream:
            while piece := stream.read(CHUNK_SIZE):
                digest.update(piece)
        assert digest.hexdigest() == stored.sha256
        return stored.size

    assert benchmark.pedantic(run, rounds=3, iterations=1) == BIG
    benchmark.extra_info["MB_per_s"] = round(2 * BIG / 1e6 / benchmark.stats.stats.mean, 1)


@pytest.mark.benchmark(group="storage-64MiB")
@pytest.mark.parametrize("kind", ["bare-folder", "bare-psycopg"])
def test_bare_big_object(benchmark, kind, postgres, big_file, tmp_path):
    """The same 64 MiB with the bare library: the whole file in one write or one INSERT, read back whole (and
    hashed, as the store's reader is)."""
    conn = _bare_pg(postgres) if kind == "bare-psycopg" else None

    def run():
        key = str(next(_round))
        data = big_file.read_bytes()
        if conn is None:
            _bare_put(tmp_path / "spool" / f"{key}.pdf", data)
            back = (tmp_path / "spool" / f"{key}.pdf").read_bytes()
        else:
            conn.execute("INSERT INTO bare (key, data) VALUES (%s, %s)", (key, data))
            row = conn.execute("SELECT data FROM bare WHERE key = %s", (key,)).fetchone()
            assert row is not None
            back = row[0]
        assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()
        return len(back)

    assert benchmark.pedantic(run, rounds=3, iterations=1) == BIG
    benchmark.extra_info["MB_per_s"] = round(2 * BIG / 1e6 / benchmark.stats.stats.mean, 1)
    if conn is not None:
        conn.close()
