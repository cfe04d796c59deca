"""bench/README.md's results table is generated from bench/results/*.json (issue 17, item 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report


def test_the_readme_table_is_the_report_of_the_results_files() -> None:
    text = report.README.read_text()
    assert report.readme_table(text) == report.render(), "run `python -m bench.report` and commit the README"


def test_every_row_names_a_results_file_that_exists() -> None:
    rows = report.rows()
    assert rows, "no results files: the table would be empty"
    for name, figure, _, _ in rows:
        cited = [part.split("`")[0] for part in figure.split("(`")[1:]]
        assert cited, f"row {name!r} names no results file"
        for file in cited:
            assert (report.RESULTS / file).exists(), (
                f"row {name!r} cites {file}, which is not in bench/results"
            )


def test_no_figure_outside_the_table_in_the_results_section() -> None:
    """The prose after the table quotes no measurement (figures live in the files)."""
    text = report.README.read_text()
    prose = text[text.index(report.END) :]
    for unit in (" ms", "cases/s", "MiB", "answers/s", "decisions/s"):
        assert unit not in prose, f"a typed figure ({unit.strip()}) in bench/README.md after the table"


def test_a_changed_results_file_changes_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for file in report.RESULTS.glob("*.json"):
        (tmp_path / file.name).write_text(file.read_text())
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    before = report.render()
    council = json.loads((tmp_path / "council_answers.json").read_text())
    council["run"]["answers_per_second"] = 1234.5
    (tmp_path / "council_answers.json").write_text(json.dumps(council))
    after = report.render()
    assert after != before and "**1234.5 answers/s**" in after
