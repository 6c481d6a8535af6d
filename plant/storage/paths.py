"""Folders of the state directory that more than one area uses: the consent registry's index, the overlays
that show a sender where a letter failed pre-flight."""

from __future__ import annotations


def consent_index_dir(settings):
    """Where this machine keeps the consent registry's lookup indexes."""
    return settings.state_dir / "consent"


def overlay_dir(settings, submission_id: str):
    """Where the overlays of a submission's rejections go: beside its receipt lists."""
    return settings.receipts_dir / f"{submission_id}-overlays"
