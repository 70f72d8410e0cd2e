"""Each bench runs end to end at tiny sizes, so that `make bench` cannot rot between runs."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench import growth, memory, pipeline, polls, scrape
from bench.common import Table, percentile


@pytest.fixture(autouse=True)
def restore_environment() -> Iterator[None]:
    """The benches point azure-identity at their simulator through os.environ, as `make bench` runs them."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def cells(tables: list[Table]) -> str:
    return "\n".join(table.markdown() for table in tables)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0


def test_scrape_bench_smoke() -> None:
    text = cells(scrape.run(quick=True))
    assert "Same bytes: True" in text
    assert "floor (bytes from memory), gzip" in text
    assert "Azure answering in 2 s" in text


def test_pipeline_bench_smoke() -> None:
    (table,) = pipeline.run(quick=True)
    labels = [row[0] for row in table.rows]
    assert labels[0].startswith("(a)")
    assert labels[1].startswith("(b)")
    jobs = int(table.title.split(":")[1].split("jobs")[0].replace(",", ""))
    assert jobs > 0


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_polls_bench_smoke() -> None:
    (table,) = polls.run(quick=True)
    rows = {row[0]: row for row in table.rows}
    assert "met" in rows["warm poll: repeated requests"][2]
    assert rows["warm poll: requests"][2].endswith("met")


def test_memory_bench_smoke() -> None:
    (table,) = memory.run(quick=True)
    assert table.rows[0][0] == "RSS after imports"
    assert float(table.rows[1][1]) > 0


def test_growth_bench_smoke() -> None:
    render, serve = growth.run(quick=True)
    assert render.rows[0][0] == "200"
    assert float(render.rows[0][2]) < float(render.rows[0][1])  # the incremental render costs less
    assert float(serve.rows[0][2]) >= float(serve.rows[0][1]) > 0  # peak RSS ≥ steady RSS
