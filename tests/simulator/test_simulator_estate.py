"""The simulated estate looks like a real one: mixed workloads, Azure's time and duration formats,
failing items and deletions where asked, bounded history, and jobs rebuilt from their ids."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from exporter.simulator import Estate, EstateSpec, JobFilter
from exporter.simulator.arm import BadRequestError, parse_job_filter
from exporter.simulator.formats import format_time, iso_duration, timespan_duration
from exporter.simulator.schedule import to_ticks

NOW = EstateSpec().epoch + 40 * 86400 + 3600.0
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?Z")


def parse_time(text: str) -> float:
    head, _, fraction = text.rstrip("Z").partition(".")
    return datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp() + float(f"0.{fraction or 0}")


def estate(now: float = NOW, **spec: float) -> Estate:
    return Estate(EstateSpec(**spec), lambda: now)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ticks", "iso", "timespan"),
    [
        (0, "PT0S", "00:00:00"),
        (24779270278, "PT41M17.9270278S", "00:41:17.9270278"),  # azcli recording
        (12230896697, "PT20M23.0896697S", "00:20:23.0896697"),  # TimeSpan from the REST docs
        (36_130_000_000, "PT1H13S", "01:00:13"),
        (936000000000, "P1DT2H", "1.02:00:00"),
        (36005000000, "PT1H0.5S", "01:00:00.5000000"),
    ],
)
def test_durations_print_like_azure(ticks, iso, timespan):
    assert (iso_duration(ticks), timespan_duration(ticks)) == (iso, timespan)


def test_times_print_with_up_to_seven_digits_trailing_zeros_dropped():
    assert format_time(to_ticks(1652436645.207162)) == "2022-05-13T10:10:45.207162Z"
    assert format_time(to_ticks(1767225600.0)) == "2026-01-01T00:00:00Z"
    assert format_time(17_672_256_001_234_567) == "2026-01-01T00:00:00.1234567Z"


def test_filter_times_accept_the_spec_examples_and_twelve_oclock():
    spec_example = parse_job_filter("startTime eq '2016-01-01 00:00:00 AM' and endTime eq '2017-11-29 00:00:00 AM'")
    assert spec_example.start == to_ticks(datetime(2016, 1, 1, tzinfo=UTC).timestamp())
    noon = parse_job_filter("startTime eq '2026-11-20 12:05:00 PM' and status eq 'Failed'")
    midnight = parse_job_filter("startTime eq '2026-11-20 12:05:00 AM'")
    assert noon.start - midnight.start == to_ticks(12 * 3600)
    assert noon.job_filter == JobFilter(status="Failed")
    with pytest.raises(BadRequestError):
        parse_job_filter("startTime eq '2026-11-20 12:05 PM'")


def test_first_vault_mixes_workloads_and_names_that_need_label_escaping():
    jobs = estate().jobs(*estate().vault_refs()[0])
    types = Counter(j["properties"]["backupManagementType"] for j in jobs)
    assert set(types) == {"AzureIaasVM", "AzureWorkload", "AzureStorage"}
    assert types["AzureIaasVM"] > types["AzureWorkload"] > types["AzureStorage"]
    names = {j["properties"]["entityFriendlyName"] for j in jobs}
    assert any("\\" in name for name in names)
    assert any('"' in name for name in names)
    assert {"Backup", "Backup (Full)", "Backup (Log)"} <= {j["properties"]["operation"] for j in jobs}


def test_the_api_version_chooses_iso_or_timespan_durations_and_times_print_as_azure_does():
    # Every vault prints ISO 8601 at current api-versions, TimeSpan at 2017-07-01 (recorded in 2018).
    sim_estate = estate()
    ref = sim_estate.vault_refs()[1]
    first, second = sim_estate.jobs(*ref), sim_estate.jobs(*ref, api_version="2017-07-01")
    assert all(j["properties"]["duration"].startswith("P") for j in first)
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d(\.\d{7})?", j["properties"]["duration"]) for j in second)
    times = [j["properties"][key] for j in first + second for key in ("startTime", "endTime") if key in j["properties"]]
    assert all(TIME.fullmatch(t) for t in times)


def test_history_is_bounded_and_configure_backup_opens_an_items_history():
    young = estate(now=EstateSpec().epoch + 3 * 86400)
    operations = Counter(j["properties"]["operation"] for j in young.jobs(*young.vault_refs()[0]))
    assert operations["ConfigureBackup"] == 12
    old = estate(history_seconds=10 * 86400)
    starts = [parse_time(j["properties"]["startTime"]) for j in old.jobs(*old.vault_refs()[0])]
    assert min(starts) >= NOW - 10 * 86400
    assert max(starts) <= NOW


def test_failing_items_have_only_failures_for_three_days():
    sim_estate = estate(failing_items=2)
    ref = sim_estate.vault_refs()[0]
    jobs = sim_estate.jobs(*ref)
    for item in sim_estate.items(sim_estate.vaults[0])[:2]:
        backups = [
            j
            for j in jobs
            if j["properties"]["entityFriendlyName"] == item.name and j["properties"]["operation"] == "Backup"
        ]
        recent = [j for j in backups if parse_time(j["properties"]["startTime"]) >= NOW - 3 * 86400]
        assert recent
        assert {j["properties"]["status"] for j in recent} <= {"Failed", "InProgress"}
        successes = [j["properties"]["endTime"] for j in backups if j["properties"]["status"].startswith("Completed")]
        assert NOW - max(parse_time(t) for t in successes) > 26 * 3600
        detail = sim_estate.job(*ref, recent[-1]["name"])
        assert detail is not None
        assert detail["properties"]["errorDetails"][0]["errorTitle"]


def test_deleted_items_get_one_delete_job_in_the_last_period_and_no_backup_after():
    sim_estate = estate(deletion_jobs=1)
    jobs = [j["properties"] for j in sim_estate.jobs(*sim_estate.vault_refs()[0])]
    (deletion,) = [p for p in jobs if p["operation"] == "DeleteBackupData"]
    deleted_at = parse_time(deletion["startTime"])
    assert NOW - 86400 <= deleted_at <= NOW
    item_jobs = [p for p in jobs if p["entityFriendlyName"] == deletion["entityFriendlyName"]]
    assert all(parse_time(p["startTime"]) <= deleted_at for p in item_jobs)


def test_every_listed_job_is_found_again_by_id_with_the_same_fields():
    sim_estate = estate()
    ref = sim_estate.vault_refs()[1]
    for job in sim_estate.jobs(*ref):
        detail = sim_estate.job(*ref, job["name"])
        assert detail is not None
        detail["properties"].pop("errorDetails", None)
        detail["properties"].pop("extendedInfo")
        assert detail == job
    assert sim_estate.job(*sim_estate.vault_refs()[0], job["name"]) is None  # another vault's id


def test_outcome_ratios_follow_the_spec():
    sim_estate = estate(subscriptions=2, vaults_per_subscription=2, items_per_vault=100)
    statuses = Counter(
        j["properties"]["status"]
        for ref in sim_estate.vault_refs()
        for j in sim_estate.jobs(*ref)
        if j["properties"]["operation"] in ("Backup", "Backup (Full)")
    )
    total = sum(statuses.values())
    assert total > 10_000
    assert 0.07 < statuses["Failed"] / total < 0.09
    assert 0.07 < statuses["CompletedWithWarnings"] / total < 0.09
    assert 0 < statuses["Cancelled"] < statuses["Failed"] / 5


def test_following_pages_reuses_the_sorted_window(monkeypatch):
    sim_estate = estate(items_per_vault=200, page_size=100)
    vault = sim_estate.vaults[0]
    computed = []
    original = sim_estate._compute_window
    monkeypatch.setattr(sim_estate, "_compute_window", lambda *a: computed.append(a) or original(*a))
    as_of = sim_estate.now()
    for _ in range(5):
        keys = sim_estate.window(vault, as_of - to_ticks(86400 * 30), as_of, as_of)
    assert len(keys) > 5000
    assert len(computed) == 1


def test_invalid_specs_are_refused():
    for bad in (
        {"failure_ratio": 0.7, "warning_ratio": 0.5},
        {"items_per_vault": 0},
        {"duration_range": (10, 5)},
        {"failing_items": 8, "deletion_jobs": 8},
    ):
        with pytest.raises(ValueError, match="invalid EstateSpec"):
            EstateSpec(**bad)  # type: ignore[arg-type]
