"""The shared backend of :class:`~plant.storage.store.Store`: objects in two tables of the SQL database the
plant's machines already share (PostgreSQL; SQLite for one machine), so a second machine needs no shared
filesystem (docs/storage.md has the choice and its figures).

``storage_objects`` holds one row per key (size, SHA-256, number of chunks, the id of its upload);
``storage_chunks`` the bytes in rows of at most :data:`~plant.storage.store.CHUNK_SIZE` (``bytea`` on
PostgreSQL, ``BLOB`` on SQLite), keyed by (upload, seq). A put writes its chunks under a fresh upload id and
then, in the same transaction, points the key at them: a failed put leaves nothing, a reader sees one upload
whole, and two machines putting the same key at once leave one complete object (the second waits on the key's
row, then keeps its own upload and drops the first's, or drops its own when the bytes are the same).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from plant.errors import DiskFull, ServiceError, StoredObjectMissing
from plant.storage.files import is_disk_full
from plant.storage.store import (
    MAX_KEY_BYTES,
    Source,
    StoredObject,
    check_key,
    check_prefix,
    chunks_of,
    file_digest,
)

#: Keys returned by one query of :meth:`DatabaseStore.list`.
LIST_PAGE = 1000
#: Milliseconds a SQLite writer waits for the lock (a large put holds it while it streams).
SQLITE_BUSY_TIMEOUT_MS = 60_000

metadata = MetaData()
#: Keys compare byte by byte ("C" collation on PostgreSQL, SQLite's BINARY), so both backends list alike.
_KEY = String(MAX_KEY_BYTES).with_variant(String(MAX_KEY_BYTES, collation="C"), "postgresql")

objects = Table(
    "storage_objects",
    metadata,
    Column("key", _KEY, primary_key=True),
    Column("upload", String(32), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
chunks = Table(
    "storage_chunks",
    metadata,
    Column("upload", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


def database_engine(url: str) -> Engine:
    """An engine for ``url`` fit for the store: on SQLite WAL, ``synchronous=FULL`` and a busy timeout (as the
    ledger opens it), transactions begun by us; any other URL as SQLAlchemy makes it."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = make_url(url).database
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)  # a new state dir (the ledger makes it too)
    engine = create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


class DatabaseStore:
    """Objects in the tables ``storage_objects`` and ``storage_chunks`` of ``engine``'s database, created on
    first use; :meth:`local_path` materialises an object into ``cache_dir`` (checked against its SHA-256, and
    reused while it matches)."""

    def __init__(self, engine: Engine, cache_dir: Path) -> None:
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"the database store runs on PostgreSQL or SQLite, not {engine.dialect.name}")
        self.engine = engine
        self.cache_dir = Path(cache_dir)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DatabaseStore({self.where!r})"

    @property
    def where(self) -> str:
        """The database's URL without its password."""
        return self.engine.url.render_as_string(hide_password=True)

    def _tables(self) -> None:
        """Create the two tables unless they exist (once per process; a concurrent creator is no error)."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            try:
                metadata.create_all(self.engine, tables=[objects, chunks])
            except DBAPIError:  # another process created them between the check and the CREATE
                names = inspect(self.engine).get_table_names()
                if not {objects.name, chunks.name} <= set(names):
                    raise
            self._ready = True

    def put(self, key: str, data: Source) -> StoredObject:
        check_key(key)
        self._tables()
        upload = uuid.uuid4().hex
        digest = hashlib.sha256()
        size = seq = 0
        with self.engine.connect() as conn:
            tx = conn.begin()
            try:
                for piece in chunks_of(data):  # the first statement writes: SQLite takes its lock here
                    conn.execute(chunks.insert(), {"upload": upload, "seq": seq, "data": piece})
                    digest.update(piece)
                    size += len(piece)
                    seq += 1
                stored = StoredObject(key, size, digest.hexdigest())
                if self._point(conn, stored, upload, seq):
                    tx.commit()
                else:  # the same bytes are there already: ours are not needed
                    tx.rollback()
            except BaseException:
                tx.rollback()
                raise
        return stored

    def _point(self, conn: Connection, stored: StoredObject, upload: str, count: int) -> bool:
        """Point ``stored.key`` at ``upload`` (dropping the upload it had), in ``conn``'s transaction; False
        when it holds the same bytes already."""
        row = {
            "key": stored.key,
            "upload": upload,
            "size": stored.size,
            "sha256": stored.sha256,
            "chunks": count,
            "created_at": datetime.now(UTC),
        }
        while True:
            added = conn.execute(
                self._insert(objects)
                .values(row)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(objects.c.key)
            ).scalar_one_or_none()
            if added is not None:
                return True
            # The key exists (or a concurrent put of it just committed: PostgreSQL waited for it above).
            old = conn.execute(
                select(objects.c.upload, objects.c.size, objects.c.sha256)
                .where(objects.c.key == stored.key)
                .with_for_update()
            ).one_or_none()
            if old is None:  # deleted in between: insert again
                continue
            if old.sha256 == stored.sha256 and old.size == stored.size:
                return False
            conn.execute(update(objects).where(objects.c.key == stored.key).values(row))
            conn.execute(delete(chunks).where(chunks.c.upload == old.upload))
            return True

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        self._tables()
        return cast(BinaryIO, io.BufferedReader(_ChunkStream(self, key)))

    def read(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def _row(self, key: str) -> Any:
        check_key(key)
        self._tables()
        with self.engine.connect() as conn:
            return conn.execute(
                select(objects.c.size, objects.c.sha256).where(objects.c.key == key)
            ).one_or_none()

    def exists(self, key: str) -> bool:
        return self._row(key) is not None

    def size(self, key: str) -> int:
        row = self._row(key)
        if row is None:
            raise StoredObjectMissing(key, self.where)
        return int(row.size)

    def delete(self, key: str) -> bool:
        check_key(key)
        self._tables()
        with self.engine.begin() as conn:  # the first statement writes (SQLite takes its lock at once)
            upload = conn.execute(
                delete(objects).where(objects.c.key == key).returning(objects.c.upload)
            ).scalar_one_or_none()
            if upload is None:
                return False
            conn.execute(delete(chunks).where(chunks.c.upload == upload))
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        check_prefix(prefix)
        self._tables()
        query = select(objects.c.key).order_by(objects.c.key).limit(LIST_PAGE)
        if prefix:  # a range on the key, so the primary key's index serves it
            above = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            query = query.where(objects.c.key >= prefix, objects.c.key < above)
        last: str | None = None
        while True:
            page = query if last is None else query.where(objects.c.key > last)
            with self.engine.connect() as conn:
                keys = list(conn.execute(page).scalars())
            yield from (k for k in keys if k.startswith(prefix))
            if len(keys) < LIST_PAGE:
                return
            last = keys[-1]

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        row = self._row(key)
        if row is None:
            raise StoredObjectMissing(key, self.where)
        path = self.cache_dir / key
        if not (path.is_file() and file_digest(path) == (row.size, row.sha256)):
            self._materialise(key, path)
        yield path

    def _materialise(self, key: str, path: Path) -> None:
        """Write the object into ``path`` (temp file and rename) and check it against its SHA-256."""
        temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        digest = hashlib.sha256()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _ChunkStream(self, key) as stream, open(temp, "wb") as fh:
                for piece in stream.pieces():
                    fh.write(piece)
                    digest.update(piece)
            if digest.hexdigest() != stream.sha256:
                raise ServiceError(
                    f"The stored object {key!r} in {self.where} does not match its SHA-256 "
                    f"{stream.sha256}: its rows were changed outside the plant; store it again from its "
                    "source (run its stage again with `plant resume`).",
                    key=key,
                )
            os.replace(temp, path)
        except BaseException as exc:
            temp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and is_disk_full(exc):
                raise DiskFull(path, self.size(key)) from exc
            raise


class _ChunkStream(io.RawIOBase):
    """The chunks of one object from one query (one snapshot of the database: a put replacing the object
    meanwhile is not seen half), fetched one row at a time; the connection is held until closed."""

    def __init__(self, store: DatabaseStore, key: str) -> None:
        super().__init__()
        self._buffer = memoryview(b"")
        self._conn = store.engine.connect()
        try:
            self._result = self._conn.execution_options(yield_per=1).execute(
                select(objects.c.size, objects.c.sha256, chunks.c.data)
                .select_from(objects.outerjoin(chunks, chunks.c.upload == objects.c.upload))
                .where(objects.c.key == key)
                .order_by(chunks.c.seq)
            )
            self._next = self._result.fetchone()
        except BaseException:
            self._conn.close()
            raise
        if self._next is None:
            self.close()
            raise StoredObjectMissing(key, store.where)
        self.key = key
        self.where = store.where
        self.size = int(self._next.size)
        self.sha256 = str(self._next.sha256)
        self._seen = 0

    def pieces(self) -> Iterator[bytes]:
        """The object's chunks in order (each held once); checks that they add up to its size."""
        row, self._next = self._next, None
        while row is not None:
            data, row = row.data, None  # hold one chunk at a time
            if data is not None:  # an empty object is one row without a chunk
                self._seen += len(data)
                yield bytes(data)
            data = None
            row = self._result.fetchone()
        if self._seen != self.size:
            raise ServiceError(
                f"The stored object {self.key!r} in {self.where} has {self._seen} bytes in its chunks, not "
                f"its {self.size}: its rows were changed outside the plant; store it again from its source.",
                key=self.key,
            )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._buffer:
            if not hasattr(self, "_pieces"):
                self._pieces = self.pieces()
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._buffer = memoryview(piece)
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        if not self.closed and hasattr(self, "_conn"):
            self._buffer = memoryview(b"")
            try:
                if hasattr(self, "_result"):
                    self._result.close()
            finally:
                self._conn.close()
        super().close()
