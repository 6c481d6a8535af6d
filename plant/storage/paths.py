"""Folders of the state directory that more than one area uses: the consent registry's index, the overlays
that show a sender where a letter failed pre-flight."""

from __future__ import annotations

from pathlib import Path

from plant.config import Settings


def consent_index_dir(settings: Settings) -> Path:
    """Where this machine keeps the consent registry's lookup indexes."""
    return settings.state_dir / "consent"


def overlay_dir(settings: Settings, submission_id: str) -> Path:
    """Where the overlays of a submission's rejections go: beside its receipt lists."""
    return settings.receipts_dir / f"{submission_id}-overlays"
