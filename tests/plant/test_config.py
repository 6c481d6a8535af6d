"""Settings: defaults, plant.toml, environment overrides and refusals that name the key."""

from pathlib import Path

import pytest

from plant.config import PrinterDriver, load_settings
from plant.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plant.toml"
    path.write_text(text)
    return path


def test_embedded_defaults(tmp_path, monkeypatch):
    """Without file or environment: ./.plant, two printers, two inserters, a demo S10 range, SQLite ledger."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.state_dir == Path(".plant")
    assert len(settings.printers) == 2 and len(settings.inserters) == 2
    assert settings.redis_url is None
    assert settings.ledger_url.startswith("sqlite:///") and settings.ledger_url.endswith(
        ".plant/ledger.sqlite"
    )
    assert settings.ids.service == "RR" and settings.ids.first < settings.ids.last


def test_file_values_are_used(tmp_path):
    """Values in plant.toml replace the defaults, typed."""
    path = write(
        tmp_path,
        'time_scale = 0.01\n[[printers]]\nname = "p"\ndriver = "hotfolder"\n'
        'sheets_per_minute = 60\n[[inserters]]\nname = "i"\nmax_sheets = 4\n',
    )
    settings = load_settings(path, environ={})
    assert settings.time_scale == 0.01
    assert settings.printers[0].driver is PrinterDriver.HOTFOLDER
    assert settings.inserters[0].max_sheets == 4


def test_environment_overrides_file(tmp_path):
    """PLANT_STATE_DIR, PLANT_REDIS_URL and PLANT_DATABASE_URL override plant.toml."""
    path = write(tmp_path, 'state_dir = "from-file"\n')
    settings = load_settings(
        path,
        environ={
            "PLANT_STATE_DIR": "/srv/plant",
            "PLANT_REDIS_URL": "redis://h:1/0",
            "PLANT_DATABASE_URL": "postgresql://u@h/db",
        },
    )
    assert settings.state_dir == Path("/srv/plant")
    assert settings.redis_url == "redis://h:1/0"
    assert settings.ledger_url == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("colour = 1\n", "colour", "allowed keys"),
        ('[[printers]]\nname = "a"\nspeed = 3\n', "printers[0].speed", "sheets_per_minute"),
        ('time_scale = "fast"\n', "time_scale", "use a number"),
        ('[[printers]]\nname = "a"\ndriver = "laser"\n', "printers[0].driver", "simulated, hotfolder"),
        ("job_max_pieces = 0\n", "job_max_pieces", "≥ 1"),
        ('[ids]\nservice = "r1"\n', "ids.service", "two capital letters"),
        ("[ids]\nfirst = 5\nlast = 4\n", "ids.first", "first ≤ last"),
        ('[[printers]]\nname = "x"\n[[inserters]]\nname = "x"\n', "printers", "used twice"),
    ],
)
def test_bad_values_are_refused_naming_the_key(tmp_path, text, key, hint):
    """Unknown keys and bad values raise ConfigError naming the key and what is allowed."""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ={})
    assert info.value.key == key
    assert key.split("[")[0] in str(info.value) and hint in str(info.value)


def test_missing_config_file_is_named(tmp_path):
    """--config pointing nowhere says so."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_broken_toml_is_refused(tmp_path):
    """A syntax error names the file."""
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "a = [\n"), environ={})


def test_mark_zones_come_from_the_configuration(tmp_path):
    """[marks] moves the code zones; the one mark layout the plant uses follows (in points)."""
    settings = load_settings(write(tmp_path, "[marks]\ncontrol_zone_mm = [6, 200, 12, 12]\n"), environ={})
    zone = settings.mark_layout().control_zone
    assert (round(zone.x / 72 * 25.4, 3), round(zone.y / 72 * 25.4, 3)) == (6.0, 200.0)


def test_mark_zone_outside_the_sheet_is_refused(tmp_path):
    """A zone that does not fit on A4 is refused naming the key."""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "[marks]\npostage_zone_mm = [200, 45, 16, 16]\n"), environ={})
    assert info.value.key == "marks.postage_zone_mm"
