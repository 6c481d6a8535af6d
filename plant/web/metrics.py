"""Prometheus ``/metrics``: the ledger's figures in the exposition format, written by ``prometheus_client``.

The figures are read from the ledger at every scrape (:func:`plant.web.queries.metrics`), so every
``plant serve`` of a plant reports the same numbers, whichever process did the work. A collector made for the
scrape hands them to ``prometheus_client``, which writes the text format (or OpenMetrics, when the scraper
asks for it in its ``Accept`` header), with the metric names, ``# HELP``/``# TYPE`` lines, ``_total`` suffixes
and label escaping the format demands.

Exposed (``plant_`` prefix):

- ``letters{state}`` (gauge): letters in each lifecycle state, every state listed;
- ``print_jobs{printer,state}`` (gauge): print jobs on each printer by job state, configured printers listed;
- ``pieces_printed_total``, ``pieces_inserted_total``, ``pieces_dispatched_total`` (counters): the ledger's
  ``read_downstream``, ``insert`` and ``dispatch`` events, the throughput page's counting rule;
- ``qa_results_total{verdict}`` (counter) and ``qa_pass_ratio`` (gauge, the last 24 h; NaN with no result);
- ``device_in_service{device,kind}`` (gauge): 1 while a configured printer or inserter is in the plan, 0 while
  it is out (taken down by an operator, or seen stopped by the sweeps longer than ``plan.replan_after_s``);
- ``dead_letters{actor}`` (gauge): messages dramatiq dead-lettered after their retries, per actor, as the last
  recovery sweep counted them in Redis (:mod:`plant.stages.recover`; read from the ledger by
  :func:`plant.ledger.reads.dead_letter_counts`, so this page needs no Redis). Work they left stranded is
  re-derived, then ended with a reason; a count above 0 is an alert: the warning ``dead_letters`` in the
  workers' log names the ids.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from plant.ledger.reads import DEAD_LETTERS_EVENT

if TYPE_CHECKING:
    from plant.web.queries import Metrics

#: Prefix of every metric name.
PREFIX = "plant"
#: The event in which the recovery sweep records the dead letters it counted (entity ``queue``), and the key
#: ``figures`` may carry them under (:func:`plant.ledger.reads.dead_letter_counts`).
DEAD_LETTERS = DEAD_LETTERS_EVENT


class _Snapshot:
    """A collector over one ledger snapshot (the dict of :func:`plant.web.queries.metrics`)."""

    def __init__(self, figures: Metrics, dead_letters: dict[str, int] | None = None) -> None:
        self.figures = figures
        given: Any = figures
        self.dead_letters = dict(given.get(DEAD_LETTERS) or {}) if dead_letters is None else dead_letters

    def collect(self) -> Iterator[Metric]:
        figures = self.figures
        letters = GaugeMetricFamily(f"{PREFIX}_letters", "Letters in each lifecycle state.", labels=["state"])
        for state, count in figures["letters"].items():
            letters.add_metric([state], count)
        yield letters
        jobs = GaugeMetricFamily(
            f"{PREFIX}_print_jobs", "Print jobs on each printer, by job state.", labels=["printer", "state"]
        )
        for printer, states in figures["jobs"].items():
            for state, count in states.items():
                jobs.add_metric([printer, state], count)
        yield jobs
        for name, what in (
            ("printed", "whose sheets were read downstream (reprints count again)"),
            ("inserted", "put in an envelope by an inserter"),
            ("dispatched", "handed to the post"),
        ):
            yield CounterMetricFamily(
                f"{PREFIX}_pieces_{name}", f"Pieces {what}.", value=figures["pieces"][name]
            )
        results = CounterMetricFamily(
            f"{PREFIX}_qa_results", "QA inspections recorded, by verdict.", labels=["verdict"]
        )
        for verdict, count in figures["qa_results"].items():
            results.add_metric([verdict], count)
        yield results
        ratio = figures["qa_pass_ratio"]
        yield GaugeMetricFamily(
            f"{PREFIX}_qa_pass_ratio",
            f"Share of QA inspections that passed over the last {figures['qa_window_hours']} h "
            "(NaN when there were none).",
            value=math.nan if ratio is None else ratio,
        )
        service = GaugeMetricFamily(
            f"{PREFIX}_device_in_service",
            "1 while the device is in the plan, 0 while it is out of service.",
            labels=["device", "kind"],
        )
        for device in figures["devices"]:
            service.add_metric([device["device"], device["kind"]], 1 if device["in_service"] else 0)
        yield service
        dead = GaugeMetricFamily(
            f"{PREFIX}_dead_letters",
            "Messages dead-lettered after their retries, per actor (as the last recovery sweep saw them).",
            labels=["actor"],
        )
        for actor, count in self.dead_letters.items():
            dead.add_metric([actor], count)
        yield dead


def exposition(
    figures: Metrics, accept: str | None, dead_letters: dict[str, int] | None = None
) -> tuple[bytes, str]:
    """The body and content type of a ``/metrics`` answer for a scraper sending ``accept``; the dead letters
    are ``dead_letters`` when given, else ``figures["dead_letters"]`` (read with
    :func:`plant.ledger.reads.dead_letter_counts` in the scrape's snapshot)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(figures, dead_letters))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
