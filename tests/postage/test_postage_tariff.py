"""Mass and tariff: a piece's mass from the configuration, its weight band, a piece above the top band
refused, and marks issued on hold in the ledger (with the same text on a reprint)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from plant.cli import main
from plant.config import load_settings
from plant.errors import ConfigError, PostageKeyMissing
from plant.intake.submission import accept, read_submission
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.postage.marks import MarkState, expire_marks, issue_marks, signing_key, tariff_minor, weight_bands
from plant.postage.pieces import piece_mass
from tracking.postage import MassAboveTopBand, WeightBand, band_for, decode_and_verify, piece_mass_g

#: A fixed issue time.
T0 = 1_750_000_000.0

TARIFF = """
[postage]
office = "101000"
currency = "RUB"
[[postage.bands]]
up_to_g = 20
tariff = "29.50"
[[postage.bands]]
up_to_g = 100
tariff = "45"
[[postage.bands]]
up_to_g = 50
tariff = "90.00"
mail_class = "priority"
[mass]
paper_gsm = 80
envelope_g = 5
inserts_g = 2.5
"""


@pytest.fixture
def settings_(tmp_path):
    """Settings with a two-band standard tariff, a priority tariff and inserts."""
    path = tmp_path / "plant.toml"
    path.write_text(TARIFF)
    return load_settings(path, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})


def test_mass_is_sheets_times_sheet_mass_plus_envelope_and_inserts(settings_):
    """3 A4 sheets of 80 g/m² (4.99 g each) + 5 g envelope + 2.5 g inserts = 22.5 g."""
    assert piece_mass(settings_.mass, 3) == 22.5


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 50), st.integers(1, 300), st.floats(0.01, 1.0))
def test_mass_grows_by_one_sheet_mass_per_sheet(sheets, gsm, area):
    """Adding a sheet adds gsm × area grams (to the 0.1 g the mass is kept in)."""
    step = piece_mass_g(sheets + 1, gsm, area, 5.0) - piece_mass_g(sheets, gsm, area, 5.0)
    assert step == pytest.approx(gsm * area, abs=0.1 + 1e-9)


def test_tariff_is_kept_in_minor_units():
    """ "29.50" with two minor digits is 2950 minor units; "45" is 4500."""
    assert (tariff_minor("29.50", 2), tariff_minor("45", 2)) == (2950, 4500)


def test_mail_class_with_its_own_rows_uses_them(settings_):
    """priority has its own band table; other classes use the rows for any class."""
    assert weight_bands(settings_.postage, "priority") == (WeightBand(50, 9000),)
    assert weight_bands(settings_.postage, "standard") == (WeightBand(20, 2950), WeightBand(100, 4500))


@pytest.mark.parametrize(("mass", "band"), [(0.0, 20), (20.0, 20), (20.1, 100), (100.0, 100)])
def test_band_is_the_lightest_that_holds_the_mass(mass, band):
    """A mass on a band's bound belongs to that band; just above it, to the next."""
    assert band_for(mass, [WeightBand(100, 2), WeightBand(20, 1)]).up_to_g == band


def test_piece_above_the_top_band_is_refused_with_a_reason():
    """A piece heavier than the top band raises MassAboveTopBand saying what to do."""
    with pytest.raises(MassAboveTopBand, match="above the top tariff band .100 g.; split the letter"):
        band_for(100.1, [WeightBand(20, 1), WeightBand(100, 2)], "standard")


def test_tariff_with_too_many_decimals_is_a_config_error(tmp_path):
    """A tariff of 29.505 in a two-digit currency is refused, naming the band."""
    path = tmp_path / "plant.toml"
    path.write_text('[[postage.bands]]\nup_to_g = 20\ntariff = "29.505"\n')
    with pytest.raises(ConfigError, match=r"postage.bands\[0\]"):
        load_settings(path, environ={})


@pytest.fixture
def pieces(settings_, small_batch, tmp_path):
    """A ledger with three pieces of 1, 3 and 30 sheets (standard class); yields (ledger, piece ids)."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    accept(ledger.tx, tmp_path / "blobs", read_submission(small_batch.submission))
    with ledger.tx() as conn:
        pks = conn.execute(select(t.letters.c.pk).order_by(t.letters.c.pk).limit(3)).scalars().all()
        conn.execute(t.letters.update().values(mail_class="standard"))
        for n, (pk, sheets) in enumerate(zip(pks, (1, 3, 30), strict=True)):
            conn.execute(
                insert(t.pieces).values(
                    letter_pk=pk,
                    tracking_id=f"RR{n:08d}0ZZ",
                    sheets=sheets,
                    prints=0,
                    mass_g=piece_mass(settings_.mass, sheets),
                )
            )
        ids = conn.execute(select(t.pieces.c.piece_id).order_by(t.pieces.c.piece_id)).scalars().all()
    yield ledger, ids
    ledger.dispose()


def test_issued_marks_are_on_hold_and_verify(settings_, pieces):
    """Issuing marks records each on hold, and each text verifies with the plant's key to its piece."""
    ledger, ids = pieces
    key = signing_key(settings_)
    with ledger.tx() as conn:
        issued = issue_marks(conn, settings_, ids[:2], key, at=T0)
    with ledger.read() as conn:
        states = conn.execute(select(tp.postage_marks.c.state)).scalars().all()
    assert states == [MarkState.ON_HOLD, MarkState.ON_HOLD]
    payload = decode_and_verify(issued.marks[str(ids[1])], key.public_key())
    assert (payload.band_g, payload.tariff_minor, payload.mass_g) == (100, 4500, 22.5)


def test_too_heavy_piece_gets_no_mark_but_a_reason(settings_, pieces):
    """The 30-sheet piece is above the top band: no mark, a reason instead."""
    ledger, ids = pieces
    with ledger.tx() as conn:
        issued = issue_marks(conn, settings_, ids, signing_key(settings_), at=T0)
    assert set(issued.marks) == {str(i) for i in ids[:2]}
    assert "above the top tariff band" in issued.refused[str(ids[2])]


def test_reprint_gets_the_same_mark(settings_, pieces):
    """Issuing again for a piece whose mark is on hold returns the same text and records nothing new."""
    ledger, ids = pieces
    key = signing_key(settings_)
    with ledger.tx() as conn:
        first = issue_marks(conn, settings_, ids[:1], key, at=T0)
    with ledger.tx() as conn:
        again = issue_marks(conn, settings_, ids[:1], key, at=T0 + 3600)
    assert again.marks == first.marks


def test_marks_not_handed_in_within_72_hours_expire(settings_, pieces):
    """The expiry sweep annuls marks on hold for more than 72 h and leaves younger ones."""
    ledger, ids = pieces
    key = signing_key(settings_)
    with ledger.tx() as conn:
        issue_marks(conn, settings_, ids[:1], key, at=T0)
        issue_marks(conn, settings_, ids[1:2], key, at=T0 + 10 * 3600)
    with ledger.tx() as conn:
        annulled = expire_marks(conn, settings_, at=T0 + 72 * 3600 + 1)
    assert annulled == [str(ids[0])]


def test_default_key_is_made_once_in_the_state_dir(settings_):
    """Without postage.key_path the signing key is created in the state dir, owner-only, and reused."""
    first = signing_key(settings_)
    assert settings_.postage_key_path.stat().st_mode & 0o077 == 0
    assert signing_key(settings_).public_key() == first.public_key()


def test_configured_key_that_is_missing_is_an_error(tmp_path):
    """A configured postage.key_path that does not exist is refused with the command that makes one."""
    path = tmp_path / "plant.toml"
    path.write_text(f'[postage]\nkey_path = "{tmp_path / "nope.pem"}"\n')
    with pytest.raises(PostageKeyMissing, match="plant postage keygen"):
        signing_key(load_settings(path, environ={}))


def test_cli_keygen_then_public_key_prints_the_matching_key(tmp_path, capsys):
    """`plant postage keygen` makes the key; `plant postage public-key` prints the PEM acceptance needs."""
    state = str(tmp_path / "state")
    assert main(["postage", "keygen", "--state-dir", state]) == 0
    key_line = capsys.readouterr().out
    assert main(["postage", "public-key", "--state-dir", state]) == 0
    pem = capsys.readouterr().out.encode()
    from tracking.postage import key_id, load_public_key

    assert key_id(load_public_key(pem)) in key_line


def test_cli_keygen_refuses_to_overwrite(tmp_path, capsys):
    """A second `plant postage keygen` keeps the key that signed marks on hold and says how to replace it."""
    state = str(tmp_path / "state")
    main(["postage", "keygen", "--state-dir", state])
    assert main(["postage", "keygen", "--state-dir", state]) == 1
    assert "--force" in capsys.readouterr().err
