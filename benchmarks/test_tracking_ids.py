"""Benchmarks of id allocation (ledger round trip per batch) and of postage marks (sign + encode, verify)."""

from __future__ import annotations

import pytest

from plant.config import IdRangeConfig
from plant.ledger import Ledger
from plant.postage.ids import allocate
from tracking.postage import MarkPayload, decode_and_verify, encode_mark, new_signing_key

#: Ids per allocation: one print job's worth.
BATCH = 500
KEY = new_signing_key()
PAYLOAD = MarkPayload(
    piece_id="4711",
    tracking_id="RR473124829DE",
    office="101000",
    mail_class="standard",
    mass_g=14.9,
    band_g=20,
    tariff_minor=2950,
    currency="RUB",
    issued_at=1_750_000_000,
)


@pytest.mark.benchmark(group="tracking-ids")
def test_allocate_a_job_of_ids_on_sqlite(benchmark, tmp_path):
    """One transaction allocating BATCH S10 ids on the embedded SQLite ledger."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    id_range = IdRangeConfig(first=0, last=99_999_999)

    def run():
        with ledger.tx() as conn:
            return allocate(conn, id_range, BATCH)

    assert len(benchmark(run)) == BATCH
    ledger.dispose()


@pytest.mark.benchmark(group="postage-mark")
def test_encode_mark(benchmark):
    """Sign and encode one postage mark."""
    assert benchmark(encode_mark, PAYLOAD, KEY).startswith("PM1:")


@pytest.mark.benchmark(group="postage-mark")
def test_verify_mark(benchmark):
    """Decode and verify one postage mark."""
    text = encode_mark(PAYLOAD, KEY)
    assert benchmark(decode_and_verify, text, KEY.public_key()) == PAYLOAD
