"""Mail run data and result files: round trips, atomic writes, and malformed files named to the field."""

from __future__ import annotations

import pytest

from inserters import DEFAULT_LAYOUT, MailRunFileError, Outcome, PieceResult, RunRecord
from inserters.mailrun import atomic_write

HEADER = "piece_id,sheets,feeder_selects,divert,envelope_text\n"


def test_run_data_round_trips(tmp_path):
    """Records with selects, divert flags and awkward envelope text read back equal."""
    records = (RunRecord("1", 2, (1, 3), False, 'Mrs "A", Street 1\nTown'), RunRecord("2", 1, (), True, ""))
    DEFAULT_LAYOUT.write_run(tmp_path / "r.csv", records)
    assert DEFAULT_LAYOUT.read_run(tmp_path / "r.csv") == records


def test_run_data_columns_are_the_documented_ones(tmp_path):
    """The CSV header and row follow piece_id,sheets,feeder_selects,divert,envelope_text with ';' selects."""
    DEFAULT_LAYOUT.write_run(tmp_path / "r.csv", (RunRecord("7", 3, (1, 2), True, "x"),))
    assert (tmp_path / "r.csv").read_text() == HEADER + "7,3,1;2,1,x\n"


def test_results_round_trip(tmp_path):
    """Per-piece results read back equal."""
    results = (
        PieceResult("1", Outcome.INSERTED, "", 2),
        PieceResult("2", Outcome.DIVERTED, "sheet 2/3 missing", 1),
    )
    DEFAULT_LAYOUT.write_results(tmp_path / "res.csv", results)
    assert DEFAULT_LAYOUT.read_results(tmp_path / "res.csv") == results


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    """After an atomic write only the target file is in the folder."""
    atomic_write(tmp_path / "f.csv", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["f.csv"]


def test_exclusive_atomic_write_does_not_replace(tmp_path):
    """An exclusive write to an existing name writes nothing and says so."""
    atomic_write(tmp_path / "f", b"first")
    assert atomic_write(tmp_path / "f", b"second", exclusive=True) is False
    assert (tmp_path / "f").read_bytes() == b"first"


@pytest.mark.parametrize(
    ("content", "line", "field"),
    [
        (HEADER + "1,x,,0,\n", 2, "sheets"),
        (HEADER + "1,0,,0,\n", 2, "sheets"),
        (HEADER + "1,1,,maybe,\n", 2, "divert"),
        (HEADER + "1,1,1;a,0,\n", 2, "feeder_selects"),
        ("piece_id,sheets,divert\n1,1,0\n", 1, "feeder_selects"),
        (HEADER + "1,1,,0,\n,1,,0,\n", 3, "piece_id"),
        (HEADER + "1,1,,0,\n1,1,,0,\n", 3, "piece_id"),
        (HEADER + '1,1,,0,"two\nlines"\n2,z,,0,\n', 4, "sheets"),
    ],
)
def test_malformed_run_data_names_file_line_and_field(tmp_path, content, line, field):
    """A malformed mail run data file is refused naming the file, the line and the field."""
    path = tmp_path / "run.csv"
    path.write_text(content)
    with pytest.raises(MailRunFileError) as info:
        DEFAULT_LAYOUT.read_run(path)
    assert (info.value.line, info.value.field) == (line, field)
    assert f"{path} line {line}, field {field!r}" in str(info.value)


def test_result_with_unknown_outcome_is_refused(tmp_path):
    """A result file with an outcome the host does not know is refused naming the outcome field."""
    path = tmp_path / "res.csv"
    path.write_text("piece_id,outcome,reason,sheets_read\n1,lost,,0\n")
    with pytest.raises(MailRunFileError, match="field 'outcome'"):
        DEFAULT_LAYOUT.read_results(path)
