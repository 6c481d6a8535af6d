"""The contract of :class:`plant.storage.Store`, held by both backends: the state directory's folder, and the
database store on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tracemalloc
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text, update

from plant.errors import ConfigError, ServiceError, StoredObjectMissing
from plant.storage import CHUNK_SIZE, InvalidKey, LocalStore, Store, make_store
from plant.storage import database as db
from plant.storage.database import DatabaseStore, database_engine

ROOT = Path(__file__).resolve().parents[2]
BIG = 64 * 2**20


def _pg_database(base: str) -> str:
    name = f"s{uuid.uuid4().hex[:12]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return base.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["local", "sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "local":
        yield LocalStore(tmp_path / "state")
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        url = _pg_database(request.getfixturevalue("postgres"))
    engine = database_engine(url)
    yield DatabaseStore(engine, cache_dir=tmp_path / "cache")
    engine.dispose()


def _chunk_rows(store: DatabaseStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(db.chunks)).scalar_one()


def _leftovers(store: Store) -> list[str]:
    """Temp files or chunk rows no object owns."""
    if isinstance(store, LocalStore):
        return [str(p) for p in store.root.rglob(".*")]
    assert isinstance(store, DatabaseStore)
    with store.engine.connect() as conn:
        owned = conn.execute(select(func.coalesce(func.sum(db.objects.c.chunks), 0))).scalar_one()
    return ["orphan chunk"] * (_chunk_rows(store) - owned)


class Exploding(io.RawIOBase):
    """A source that gives ``good`` bytes, then fails like a broken upload."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            raise OSError("the sender hung up")
        n = min(len(buffer), self.left)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


def test_every_backend_is_a_store(store):
    assert isinstance(store, Store)


def test_put_gives_size_and_digest_and_every_read_gives_the_bytes(store, tmp_path):
    data = os.urandom(CHUNK_SIZE * 2 + 123)
    stored = store.put("blobs/ab/cd/letter.pdf", data)
    assert (stored.key, stored.size, stored.sha256) == (
        "blobs/ab/cd/letter.pdf",
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    assert store.read("blobs/ab/cd/letter.pdf") == data
    with store.open("blobs/ab/cd/letter.pdf") as stream:
        parts = [stream.read(1000), stream.read(CHUNK_SIZE), stream.read()]
        assert stream.read() == b""
    assert b"".join(parts) == data and len(parts[0]) == 1000
    assert store.exists("blobs/ab/cd/letter.pdf") and not store.exists("blobs/ab/cd/other.pdf")
    assert store.size("blobs/ab/cd/letter.pdf") == len(data)

    source = tmp_path / "job.pdf"
    source.write_bytes(data[:5000])
    with open(source, "rb") as fh:
        assert store.put("spool/J-1.pdf", fh).size == 5000
    assert store.read("spool/J-1.pdf") == data[:5000]

    assert store.put("receipts/empty.csv", b"").size == 0
    assert store.read("receipts/empty.csv") == b"" and store.exists("receipts/empty.csv")

    assert store.delete("spool/J-1.pdf") is True
    assert store.delete("spool/J-1.pdf") is False
    assert not store.exists("spool/J-1.pdf")


def test_a_missing_key_says_which_and_what_to_do(store):
    for call in (store.read, store.open, store.size):
        with pytest.raises(StoredObjectMissing, match=r"'spool/J-9\.pdf'.*plant resume") as caught:
            call("spool/J-9.pdf")
        assert caught.value.key == "spool/J-9.pdf" and caught.value.exit_code == 66
    with pytest.raises(StoredObjectMissing), store.local_path("spool/J-9.pdf"):
        pass


def test_a_put_replaces_and_the_same_bytes_again_change_nothing(store):
    first = store.put("receipts/S-1.csv", b"a,b\n")
    assert store.put("receipts/S-1.csv", b"a,b\n") == first
    if isinstance(store, DatabaseStore):
        assert _chunk_rows(store) == 1
    store.put("receipts/S-1.csv", b"a,b\n1,2\n")
    assert store.read("receipts/S-1.csv") == b"a,b\n1,2\n"
    assert list(store.list("receipts/")) == ["receipts/S-1.csv"]
    assert _leftovers(store) == []


def test_a_put_that_fails_midway_leaves_nothing_and_keeps_the_old_object(store):
    with pytest.raises(OSError, match="hung up"):
        store.put("spool/J-1.pdf", io.BufferedReader(Exploding(CHUNK_SIZE * 2 + 7)))
    assert not store.exists("spool/J-1.pdf")
    assert list(store.list("")) == []
    store.put("spool/J-1.pdf", b"old job")
    with pytest.raises(OSError, match="hung up"):
        store.put("spool/J-1.pdf", io.BufferedReader(Exploding(CHUNK_SIZE + 1)))
    assert store.read("spool/J-1.pdf") == b"old job"
    assert _leftovers(store) == []


def test_list_is_sorted_by_key_filtered_by_prefix_and_paged(store, monkeypatch):
    monkeypatch.setattr(db, "LIST_PAGE", 2)
    keys = [
        "receipts/a/b.csv",
        "receipts/a-b.csv",
        "receipts/a.json",
        "receipts/ab.csv",
        "manifests/2025-01-01/standard.csv",
        "outbox/digital/L-1.json",
        "blobs/00/11/x.pdf",
        "overlays/S-1/L-2.pdf",
    ]
    for key in keys:
        store.put(key, key.encode())
    listed = store.list("")
    assert iter(listed) is listed  # streamed, not a list built first
    assert list(listed) == sorted(keys)
    assert list(store.list("receipts/a")) == sorted(k for k in keys if k.startswith("receipts/a"))
    assert list(store.list("receipts/a/")) == ["receipts/a/b.csv"]
    assert list(store.list("rec")) == sorted(k for k in keys if k.startswith("rec"))
    assert list(store.list("spool/")) == []


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "blobs/../../etc/passwd",
        "blobs/a/../b",
        "blobs",
        "blobs/",
        "blobs//a",
        "blobs/.hidden",
        "tmp/a",
        "C:/a",
        "blobs\\a",
        "blobs/a\x00b",
        "blobs/" + "a" * 1100,
    ],
)
def test_keys_outside_an_area_are_refused_clearly(store, key):
    with pytest.raises(InvalidKey, match="storage key .* use a relative path <area>/<name>"):
        store.put(key, b"x")
    with pytest.raises(InvalidKey):
        store.exists(key)
    assert list(store.list("")) == []


def test_list_refuses_a_prefix_outside_the_areas(store):
    for prefix in ("../", "/blobs", "blobs/../"):
        with pytest.raises(InvalidKey):
            list(store.list(prefix))


def test_a_64_mib_object_goes_in_and_out_in_bounded_memory(store, tmp_path):
    source = tmp_path / "big.pdf"
    digest = hashlib.sha256()
    with open(source, "wb") as fh:
        for _ in range(BIG // CHUNK_SIZE):
            piece = os.urandom(CHUNK_SIZE)
            digest.update(piece)
            fh.write(piece)
    bound = 6 * CHUNK_SIZE  # a few chunks (the caller's, the stream's, the driver's), of the object's 64

    tracemalloc.start()
    try:
        with open(source, "rb") as fh:
            stored = store.put("spool/big.pdf", fh)
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        check = hashlib.sha256()
        size = 0
        with store.open("spool/big.pdf") as stream:
            while piece := stream.read(CHUNK_SIZE):
                check.update(piece)
                size += len(piece)
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (stored.size, stored.sha256) == (BIG, digest.hexdigest())
    assert (size, check.hexdigest()) == (BIG, digest.hexdigest())
    print(f"peak: put {put_peak / 2**20:.1f} MiB, get {get_peak / 2**20:.1f} MiB")
    assert put_peak < bound, f"put held {put_peak / 2**20:.1f} MiB"
    assert get_peak < bound, f"get held {get_peak / 2**20:.1f} MiB"


def test_local_path_is_the_stores_own_file_on_the_folder_backend(tmp_path):
    store = LocalStore(tmp_path / "state")
    store.put("spool/J-1.pdf", b"%PDF-job")
    with store.local_path("spool/J-1.pdf") as path:
        assert path == tmp_path / "state" / "spool" / "J-1.pdf"
        assert path.read_bytes() == b"%PDF-job"


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_local_path_materialises_once_checks_the_digest_and_follows_a_new_put(dialect, request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        if dialect == "sqlite"
        else _pg_database(request.getfixturevalue("postgres"))
    )
    store = DatabaseStore(database_engine(url), cache_dir=tmp_path / "cache")
    data = os.urandom(CHUNK_SIZE + 99)
    store.put("spool/J-1.pdf", data)
    with store.local_path("spool/J-1.pdf") as path:
        assert path.is_relative_to(tmp_path / "cache") and path.read_bytes() == data
        inode = path.stat().st_ino
    with store.local_path("spool/J-1.pdf") as again:
        assert again == path and again.stat().st_ino == inode  # reused, not fetched again

    with open(path, "r+b") as fh:  # a corrupt cached copy (same size) is fetched again
        fh.write(b"XXXX")
    with store.local_path("spool/J-1.pdf") as path:
        assert path.read_bytes() == data

    store.put("spool/J-1.pdf", b"%PDF-replanned")
    with store.local_path("spool/J-1.pdf") as path:
        assert path.read_bytes() == b"%PDF-replanned"
    assert [p.name for p in path.parent.iterdir()] == ["J-1.pdf"]  # no temp files left

    path.unlink()  # rows changed outside the plant are refused, not handed to a press
    with store.engine.begin() as conn:
        conn.execute(update(db.chunks).values(data=b"%PDF-tampered!"))
    with pytest.raises(ServiceError, match="does not match its SHA-256"), store.local_path("spool/J-1.pdf"):
        pass
    assert not path.exists()
    store.engine.dispose()


_PUT_IN_A_CHILD = """
import os, sys, time
from pathlib import Path
from plant.storage.database import DatabaseStore, database_engine
url, go, fill = sys.argv[1], Path(sys.argv[2]), sys.argv[3].encode()
store = DatabaseStore(database_engine(url), cache_dir=Path(sys.argv[4]))
store.put("receipts/warm-up.csv", b"")
print("ready", flush=True)
while not go.exists():
    time.sleep(0.01)
stored = store.put("spool/shared.pdf", fill * (8 * 2**20 + 5))
print(stored.sha256, flush=True)
"""


def test_two_processes_putting_one_key_on_postgresql_leave_one_complete_object(postgres, tmp_path):
    url = _pg_database(postgres)
    go = tmp_path / "go"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _PUT_IN_A_CHILD, url, str(go), fill, str(tmp_path / f"cache-{fill}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for fill in ("a", "b")
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    go.touch()
    outcomes = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0, 0], [err for _, err in outcomes]
    digests = {out.strip() for out, _ in outcomes}
    expected = {hashlib.sha256(fill * (8 * 2**20 + 5)).hexdigest() for fill in (b"a", b"b")}
    assert digests == expected

    store = DatabaseStore(database_engine(url), cache_dir=tmp_path / "cache")
    data = store.read("spool/shared.pdf")
    assert data in (b"a" * (8 * 2**20 + 5), b"b" * (8 * 2**20 + 5))
    assert store.size("spool/shared.pdf") == len(data)
    assert _leftovers(store) == []
    store.engine.dispose()


def _settings(tmp_path, toml: str, **environ: str):
    from plant.config import load_settings

    config = tmp_path / "plant.toml"
    config.write_text(toml, encoding="utf-8")
    return load_settings(config, environ={"PLANT_STATE_DIR": str(tmp_path / "state"), **environ})


def test_make_store_follows_the_storage_setting(tmp_path):
    local = make_store(_settings(tmp_path, ""))
    assert isinstance(local, LocalStore) and local.root == tmp_path / "state"
    shared = make_store(_settings(tmp_path, '[storage]\nbackend = "database"\n'))
    assert isinstance(shared, DatabaseStore)
    assert (
        shared.engine.dialect.name == "sqlite"
        and shared.cache_dir == tmp_path / "state" / "cache" / "storage"
    )
    shared.put("outbox/digital/L-1.json", b"{}")
    assert shared.read("outbox/digital/L-1.json") == b"{}"
    assert not (tmp_path / "state" / "outbox").exists()  # in the database, not the folder
    shared.engine.dispose()


def test_a_bad_storage_setting_is_refused_naming_the_key(tmp_path):
    with pytest.raises(
        ConfigError, match=r"storage\.backend = 's3' is not allowed; use one of: local, database"
    ):
        _settings(tmp_path, '[storage]\nbackend = "s3"\n')
    with pytest.raises(ConfigError, match=r"storage\.backend = \"database\".*PostgreSQL") as caught:
        _settings(
            tmp_path, '[storage]\nbackend = "database"\n', PLANT_DATABASE_URL="mysql+pymysql://plant@db/plant"
        )
    assert caught.value.exit_code == 78 and caught.value.key == "storage.backend"
