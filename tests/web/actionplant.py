"""Helpers for the operators' action tests: a fresh plant with an operators file, and reading the ledger
back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from plant.config import Settings, load_settings
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.web.auth import add_operator
from tests.web.webplant import accept_batch

#: The operator the tests sign in as, and their password.
OPERATOR, PASSWORD = "alice", "correct horse battery"


@dataclass
class ActionPlant:
    """A state dir with a few RECEIVED letters and a plant.toml naming an operators file with
    :data:`OPERATOR`."""

    config: Path
    settings: Settings
    submission: str
    letters: list[str]


def make_action_plant(root: Path, letters: int = 6, operators: bool = True) -> ActionPlant:
    """Accept ``letters`` letters into a fresh ledger under ``root``; configure operators unless told not
    to."""
    config = root / "plant.toml"
    config.write_text(
        f'[web]\nrefresh_s = 0.5\noperators_file = "{root / "operators"}"\n' if operators else ""
    )
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(root / "state")})
    submission = accept_batch(settings, root / "in", letters=letters, seed=11)
    if operators:
        add_operator(settings.web.operators_file, OPERATOR, PASSWORD)
    ledger = Ledger(settings.ledger_url)
    with ledger.read() as conn:
        ids = conn.execute(select(t.letters.c.letter_id).order_by(t.letters.c.pk)).scalars().all()
    ledger.dispose()
    return ActionPlant(config, settings, submission, list(ids))


def letter_state(settings: Settings, letter_id: str) -> str:
    """The letter's state in the ledger now."""
    ledger = Ledger(settings.ledger_url)
    with ledger.read() as conn:
        state = conn.execute(select(t.letters.c.state).where(t.letters.c.letter_id == letter_id)).scalar_one()
    ledger.dispose()
    return state


def last_event(settings: Settings, entity: str, entity_id: str, event: str):
    """The last ``event`` of an entity (a letter by its letter id, a device by name); None if none."""
    ledger = Ledger(settings.ledger_url)
    with ledger.read() as conn:
        if entity == "letter":
            entity_id = str(
                conn.execute(select(t.letters.c.pk).where(t.letters.c.letter_id == entity_id)).scalar_one()
            )
        row = conn.execute(
            select(t.events)
            .where(t.events.c.entity == entity, t.events.c.entity_id == entity_id, t.events.c.event == event)
            .order_by(t.events.c.id.desc())
        ).first()
    ledger.dispose()
    return row


def csrf_of(html: str) -> str:
    """The CSRF token the page's forms carry."""
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)
