"""The ledger's engine and its few write primitives.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL`` and takes the write lock up front
(``BEGIN IMMEDIATE``) with a busy timeout, so concurrent writers queue instead of failing half-way. Any other
SQLAlchemy URL (PostgreSQL when the plant spans machines) uses the same code.

Every state change is one transaction made of three parts, always together: a compare-and-set of the entity's
state from the one expected, an appended event, and an outbox row for the next message. Before it commits,
every transaction chains the events it appended (:func:`chain_events`): each gets its place in the plant's
one chain and a hash over its fields and the previous event's hash, so that ``plant audit --verify-chain``
finds an event edited, removed or reordered afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    DefaultClause,
    Engine,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from plant.errors import IllegalTransition, NotFound, ServiceError
from plant.ledger import schema as t
from plant.ledger.audit import CHAIN_BATCH, GENESIS, event_hash
from plant.model import FINAL_STATES, Event, State, next_state

if TYPE_CHECKING:
    from plant.config import Settings

#: Milliseconds a SQLite writer waits for the lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 60_000
#: Most ids in one SQL ``IN (...)`` list (SQLite's variable limit is far above; keeps statements small).
CHUNK = 500


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Ledger:
    """The plant's SQL store: one writer engine, one reader engine (the same engine off SQLite).

    ``Ledger(url)`` creates the schema or upgrades an older one (:meth:`migrate`): whatever runs the plant
    opens it so. ``Ledger(url, read_only=True)`` is for commands that only read (``plant status``,
    ``plant receipts``): it opens the ledger as it is, creates nothing, and refuses one that is missing or
    older than this code (:meth:`check_version`).
    """

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        if url.startswith("sqlite"):
            self.reader = _sqlite_engine(url, immediate=False)
            self.engine = self.reader if read_only else _sqlite_engine(url, immediate=True)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            self.reader = self.engine
        if read_only:
            self.check_version()
        else:
            self.migrate()

    def check_version(self) -> None:
        """Refuse, without writing anything, a ledger that does not exist or holds no schema
        (:class:`NotFound`), and one whose schema is older than this code's (:class:`ServiceError`: starting
        the plant upgrades it)."""
        path = _sqlite_file(self.url)
        if path is not None and not path.is_file():
            raise NotFound(
                f"No ledger at {path}: nothing has run with this state directory; check --state-dir, "
                "PLANT_STATE_DIR or PLANT_DATABASE_URL.",
                url=self.url,
            )
        with self.read() as conn:
            has_schema = inspect(conn).has_table(t.schema_info.name)
            version = conn.execute(select(t.schema_info.c.version)).scalar() if has_schema else None
        if version is None:
            raise NotFound(
                f"The ledger at {self.url} is empty: nothing has run with it; check --state-dir, "
                "PLANT_STATE_DIR or PLANT_DATABASE_URL.",
                url=self.url,
            )
        if version < t.SCHEMA_VERSION:
            raise ServiceError(
                f"The ledger at {self.url} has schema version {version}, older than this plant's "
                f"{t.SCHEMA_VERSION}; start the plant once with this version (`plant resume`, `plant worker` "
                "or `plant serve` upgrade the ledger), then try again.",
                url=self.url,
                version=version,
            )

    def migrate(self) -> None:
        """Create the schema, or upgrade an older one, and record its version.

        Areas keep their own tables in ``plant/ledger/schema_<area>.py`` on the shared ``metadata``; they are
        all loaded here, so a new area's tables, and any index added to an existing table, are created on the
        next start. Columns added to an existing table come from the steps of :data:`UPGRADES` newer than the
        ledger's recorded version, in the same transaction as the new version.
        """
        _load_area_schemas()
        with self.tx() as conn:
            t.metadata.create_all(conn)
            version = conn.execute(select(t.schema_info.c.version)).scalar()
            if version is not None and version < t.SCHEMA_VERSION:
                for target, step in UPGRADES:
                    if version < target:
                        step(conn)
                        _log().info("ledger_upgraded", from_version=version, to_version=target)
            for table in t.metadata.sorted_tables:  # indexes added since a table was created
                for index in table.indexes:
                    index.create(conn, checkfirst=True)
            if version is None:
                conn.execute(insert(t.schema_info).values(id=1, version=t.SCHEMA_VERSION))
            elif version < t.SCHEMA_VERSION:
                conn.execute(update(t.schema_info).values(version=t.SCHEMA_VERSION))

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One write transaction: commits on success, rolls back on any error."""
        if self.read_only:
            raise RuntimeError(f"the ledger at {self.url} was opened read-only")
        with self.engine.begin() as conn:
            yield conn
            chain_events(conn)  # the events this transaction appended, before it commits

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot."""
        with self.reader.connect() as conn:
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()


def add_column(conn: Connection, column: Column) -> None:
    """Add ``column`` (a column of the schema, with its type, nullability and server default) to its table in
    an existing ledger, unless the table has it already: a ledger created by this code, or upgraded by a
    concurrent process (PostgreSQL takes ``IF NOT EXISTS``; SQLite's ``BEGIN IMMEDIATE`` already serialises
    migrations)."""
    table = column.table.name
    if column.name in {c["name"] for c in inspect(conn).get_columns(table)}:
        return
    preparer = conn.dialect.identifier_preparer
    ddl = f"{preparer.quote(column.name)} {column.type.compile(dialect=conn.dialect)}"
    if isinstance(column.server_default, DefaultClause):
        ddl += f" DEFAULT {column.server_default.arg}"
    if not column.nullable:
        ddl += " NOT NULL"
    exists = " IF NOT EXISTS" if conn.dialect.name == "postgresql" else ""
    conn.exec_driver_sql(f"ALTER TABLE {preparer.quote(table)} ADD COLUMN{exists} {ddl}")


def _add_duplex(conn: Connection) -> None:
    """Version 2: letters say whether they are duplex, jobs whether they are printed so. Existing rows read as
    simplex, which matches their pieces (whose sheets were counted as pages), so a job planned but not yet
    imposed is imposed one page a leaf."""
    add_column(conn, t.letters.c.duplex)
    add_column(conn, t.print_jobs.c.duplex)


def _chain_existing(conn: Connection) -> None:
    """Version 3: events carry their place in the chain and their hashes; the events already there are
    chained in the order they were written (their ids)."""
    for column in (t.events.c.chain_seq, t.events.c.prev_hash, t.events.c.hash):
        add_column(conn, column)
    chain_events(conn)


#: Upgrade steps of older ledgers, oldest first: (the schema version a step brings a ledger to, the step).
#: Each runs inside the migrating transaction and leaves alone what a ledger has already.
UPGRADES = ((2, _add_duplex), (3, _chain_existing))


def chain_events(conn: Connection) -> int:
    """Chain the events not chained yet (those this transaction appended; after an upgrade, all of them), in
    the order of their ids; returns how many.

    Each event gets the next place in the chain, the hash of the event before it and its own
    (:func:`plant.ledger.audit.event_hash`). The chain's head row is locked for it (``FOR UPDATE`` on
    PostgreSQL, where it is taken last in the transaction, so it adds no lock-order cycle; SQLite's
    ``BEGIN IMMEDIATE`` serialises writers anyway): concurrent transactions chain one after the other. The
    first event of a later UTC day writes the anchor of the day before: the last hash of that day."""
    e = t.events.c
    columns = (e.id, e.at, e.entity, e.entity_id, e.event, e.from_state, e.to_state, e.data)
    chained = 0
    while True:
        pending = conn.execute(
            select(*columns).where(e.chain_seq.is_(None)).order_by(e.id).limit(CHAIN_BATCH)
        ).all()
        if not pending:
            return chained
        head = _chain_head(conn)
        seq, prev, event_id, day = head.seq, head.hash, head.event_id, head.day
        rows = []
        for row in pending:
            row_day = datetime.fromtimestamp(row.at, UTC).date().isoformat()
            if day is not None and row_day > day and seq > 0:
                _anchor(conn, day, seq, event_id, prev)
            if day is None or row_day > day:
                day = row_day
            seq += 1
            digest = event_hash(prev, seq, row)
            rows.append({"b_id": row.id, "b_seq": seq, "b_prev": prev, "b_hash": digest})
            prev, event_id = digest, row.id
        conn.execute(
            update(t.events)
            .where(e.id == bindparam("b_id"))
            .values(chain_seq=bindparam("b_seq"), prev_hash=bindparam("b_prev"), hash=bindparam("b_hash")),
            rows,
        )
        conn.execute(
            update(t.event_chain)
            .where(t.event_chain.c.id == 1)
            .values(seq=seq, hash=prev, event_id=event_id, day=day)
        )
        chained += len(rows)


def _chain_head(conn: Connection) -> Any:
    """The chain's head row, locked for this transaction (made, at the genesis hash, when missing)."""
    query = select(t.event_chain).where(t.event_chain.c.id == 1).with_for_update()
    head = conn.execute(query).first()
    if head is None:
        conn.execute(_insert_or_ignore(conn, t.event_chain).values(id=1, seq=0, hash=GENESIS))
        head = conn.execute(query).one()
    return head


def _anchor(conn: Connection, day: str, seq: int, event_id: int | None, digest: str) -> None:
    """Write the anchor of ``day``: the chain's last place and hash that day (kept when written already)."""
    conn.execute(
        _insert_or_ignore(conn, t.event_anchors).values(
            day=day, seq=seq, event_id=event_id or 0, hash=digest, at=now()
        )
    )


def _insert_or_ignore(conn: Connection, table: Any) -> Any:
    """An INSERT of ``table`` that leaves an existing row of the same key alone."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return insert(table)


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ledger URL; None for an in-memory one and for other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return None if parsed.query.get("uri") else Path(parsed.database)


def _log() -> Any:
    import structlog  # only when a ledger is upgraded: commands that read the ledger start without it

    return structlog.get_logger(__name__)


def _load_area_schemas() -> None:
    import importlib
    import pkgutil

    import plant.ledger

    for module in pkgutil.iter_modules(plant.ledger.__path__):
        if module.name.startswith("schema_"):
            importlib.import_module(f"plant.ledger.{module.name}")


def now() -> float:
    """Wall-clock seconds since the epoch: the ledger's time stamps."""
    return time.time()


def append_event(
    conn: Connection,
    entity: str,
    entity_id: str,
    event_name: str,
    from_state: str | None = None,
    to_state: str | None = None,
    data: dict | None = None,
) -> None:
    """Append one event row."""
    conn.execute(
        insert(t.events).values(
            at=now(),
            entity=entity,
            entity_id=str(entity_id),
            event=event_name,
            from_state=from_state,
            to_state=to_state,
            data=data,
        )
    )


def enqueue(conn: Connection, actor: str, *args: Any, delay_ms: int = 0) -> None:
    """Write an outbox row: the relay sends ``actor(*args)`` once this transaction has committed."""
    conn.execute(insert(t.outbox).values(created_at=now(), actor=actor, args=list(args), delay_ms=delay_ms))


def move_letters(
    conn: Connection,
    pks: Sequence[int],
    event_name: Event,
    expect: State,
    data: dict | None = None,
    per_letter: dict[int, dict] | None = None,
    extra: dict | None = None,
    held_from: State | None = None,
) -> list[int]:
    """Compare-and-set letters ``pks`` from ``expect`` along ``event_name``; append an event per moved letter.

    Returns the pks actually moved (those still in ``expect``); the rest were moved by someone else already,
    which is how an at-least-once message finds its work done. ``extra`` sets further columns on the rows.
    HOLD records the state a letter was held from; RELEASE moves only letters held from ``held_from``.
    """
    target = next_state(expect, event_name, held_from=held_from)
    stamp = now()
    values: dict[str, Any] = {"state": target.value, "updated_at": stamp, **(extra or {})}
    if target in FINAL_STATES:
        values["final_at"] = stamp
    if event_name is Event.HOLD or event_name is Event.RELEASE:
        values["held_from"] = expect.value if event_name is Event.HOLD else None
    where = [t.letters.c.state == expect.value]
    if held_from is not None:
        where.append(t.letters.c.held_from == held_from.value)
    moved: list[int] = []
    for chunk in _chunks(pks):
        result = conn.execute(
            update(t.letters)
            .where(t.letters.c.pk.in_(chunk), *where)
            .values(**values)
            .returning(t.letters.c.pk)
        )
        moved.extend(row.pk for row in result)
    if moved:
        conn.execute(
            insert(t.events),
            [
                {
                    "at": stamp,
                    "entity": "letter",
                    "entity_id": str(pk),
                    "event": event_name.value,
                    "from_state": expect.value,
                    "to_state": target.value,
                    "data": {**(data or {}), **((per_letter or {}).get(pk) or {})} or None,
                }
                for pk in moved
            ],
        )
    return moved


def move_letter(
    conn: Connection,
    pk: int,
    event_name: Event,
    expect: State,
    data: dict | None = None,
    extra: dict | None = None,
) -> bool:
    """Move one letter; True when it was in ``expect`` and moved."""
    return bool(move_letters(conn, [pk], event_name, expect, data=data, extra=extra))


def current_state(conn: Connection, pk: int) -> State:
    """The letter's state now (raises when the letter does not exist)."""
    value = conn.execute(select(t.letters.c.state).where(t.letters.c.pk == pk)).scalar_one()
    return State(value)


def require_state(conn: Connection, pk: int, expect: State, event_name: Event) -> None:
    """Raise :class:`IllegalTransition` unless the letter is in ``expect``."""
    state = current_state(conn, pk)
    if state is not expect:
        raise IllegalTransition(str(state), str(event_name))


def move_entity(
    conn: Connection,
    table: Any,
    key_column: Any,
    key: str,
    expect: str,
    target: str,
    event_name: str,
    entity: str,
    data: dict | None = None,
    **values: Any,
) -> bool:
    """Compare-and-set the ``state`` of one job or run row; append its event when it moved."""
    result = conn.execute(
        update(table)
        .where(key_column == key, table.c.state == expect)
        .values(state=target, updated_at=now(), **values)
    )
    if result.rowcount != 1:
        return False
    append_event(conn, entity, key, event_name, expect, target, data)
    return True


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def open_ledger(settings: Settings, *, read_only: bool = False) -> Ledger:
    """The plant's ledger, or a :class:`ServiceError` saying where it was looked for and what to check.
    ``read_only``: as it is, neither created nor upgraded (:class:`Ledger`)."""
    try:
        return Ledger(settings.ledger_url, read_only=read_only)
    except OperationalError as exc:
        raise ServiceError(
            f"The ledger at {settings.ledger_url} cannot be opened ({exc.orig}); check --state-dir "
            "or PLANT_DATABASE_URL.",
            url=settings.ledger_url,
        ) from exc
