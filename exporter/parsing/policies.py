"""Backup policies → the longest gap each policy allows between two successful backups of a type.

Recovery Services: one entry of `GET …/vaults/{v}/backupPolicies` (ProtectionPolicyResource; schema
bms.json, definitions AzureIaaSVMProtectionPolicy, AzureFileShareProtectionPolicy,
AzureVmWorkloadProtectionPolicy, SimpleSchedulePolicy, SimpleSchedulePolicyV2, LogSchedulePolicy,
SubProtectionPolicy; bodies: tests/fixtures/azure/rsv_*Policies*). Backup vaults: one entry of
`GET …/backupVaults/{v}/backupPolicies` (BaseBackupPolicyResource → BackupPolicy with policyRules
of objectType AzureBackupRule, trigger ScheduleBasedTriggerContext, schedule.repeatingTimeIntervals
"R/{start}/{period}"; body: tests/fixtures/azure/dpp_GetBackupPolicy_2025-07-01.json).

The expectation per backup type (`Full`, `Differential`, `Incremental`, `Log`, or `Backup` for a
plain VM, file share or backup-vault policy):

| schedule                                  | expected interval                                    |
|-------------------------------------------|------------------------------------------------------|
| Daily                                     | 24h                                                  |
| Weekly, scheduleRunDays                   | longest gap between two run days (one day: 7d)       |
| Hourly, interval i, window w (hours)      | max(i, 24h - the last run's offset in the window)     |
| LogSchedulePolicy, scheduleFrequencyInMins | that many minutes                                    |
| R/{start}/{period} (one or more)          | the longest gap between the rules' run times, cyclic |

Nothing here raises on JSON: an unreadable policy is counted under a `policy…` field (feeding
`azure_backup_exporter_parse_errors_total{field}`); an unknown schedule type is kept verbatim as
the `schedule` text, with no expected interval (the item falls back on AzureBackupTooOld).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from exporter.parsing.common import MAX_LABEL_CHARS, UNKNOWN
from exporter.parsing.values import parse_azure_duration, parse_time

__all__ = ["BACKUP", "Policy", "parse_dpp_policy", "parse_rsv_policy", "policy_key"]

BACKUP: Final = "Backup"  # the backup_type of a policy without sub-policies
DAY: Final = 86400.0
WEEK: Final = 7 * DAY
_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# A V2 (enhanced) policy nests its run times and days under dailySchedule / weeklySchedule.
_V2: Final = "SimpleSchedulePolicyV2"
_REPEATING = re.compile(r"R\d*/([^/]+)/([^/]+)")


class Policy(NamedTuple):
    """One backup policy of a vault: its name, what it protects, and what it promises."""

    name: str
    workload: str
    schedule: str  # short text: "daily 02:00 UTC", "hourly every 4h 08:00-20:00 UTC", "log 15m"
    intervals: tuple[tuple[str, float], ...]  # (backup_type, longest allowed gap in seconds)


class _Schedule(NamedTuple):
    text: str
    seconds: float | None


def policy_key(policy_id_or_name: str) -> str:
    """The join key of a policy: its id's last segment, casefolded (items often carry only policyId)."""
    return policy_id_or_name.rstrip("/").rpartition("/")[2].casefold()


def parse_rsv_policy(raw: object, errors: Counter[str]) -> Policy | None:
    """One Recovery Services `ProtectionPolicyResource` → `Policy`; None when it has no name."""
    name, props = _resource(raw, errors)
    if name is None:
        return None
    management = _text(props.get("backupManagementType")) or UNKNOWN
    workload = _text(props.get("workLoadType")) or management
    settings = props.get("settings")
    zone = _text(props.get("timeZone")) or (_text(settings.get("timeZone")) if isinstance(settings, Mapping) else None)
    zone = zone or "UTC"
    subs = props.get("subProtectionPolicy")
    parts: list[tuple[str, _Schedule]] = []
    if isinstance(subs, list) and subs:
        for sub in subs:
            kind = _text(sub.get("policyType")) if isinstance(sub, Mapping) else None
            if kind is None:
                errors["policy.subProtectionPolicy"] += 1
                continue
            parts.append((kind, _rsv_schedule(sub.get("schedulePolicy"), zone, errors)))
    elif "schedulePolicy" in props:
        parts.append((BACKUP, _rsv_schedule(props.get("schedulePolicy"), zone, errors)))
    else:
        errors["policy.schedulePolicy"] += 1
    return _policy(name, workload, parts)


def parse_dpp_policy(raw: object, errors: Counter[str]) -> Policy | None:
    """One backup-vault `BaseBackupPolicyResource` → `Policy` (backup type `Backup`)."""
    name, props = _resource(raw, errors)
    if name is None:
        return None
    kinds = props.get("datasourceTypes")
    workload = _text(kinds[0]) if isinstance(kinds, list) and kinds else None
    rules = props.get("policyRules")
    if not isinstance(rules, list):
        errors["policy.policyRules"] += 1
        rules = []
    parts: list[tuple[str, _Schedule]] = []
    for rule in rules:
        if isinstance(rule, Mapping) and rule.get("objectType") == "AzureBackupRule":
            parts.append((BACKUP, _dpp_rule(rule, errors)))
    # Several backup rules (a vault-store and an operational-store tier): any backup job is
    # one of them, so the tightest one is what the policy promises.
    known = [s.seconds for _, s in parts if s.seconds is not None]
    if len(parts) > 1:
        text = "; ".join(s.text for _, s in parts)
        parts = [(BACKUP, _Schedule(text, min(known) if known else None))]
    return _policy(name, workload or UNKNOWN, parts)


def _resource(raw: object, errors: Counter[str]) -> tuple[str | None, Mapping[str, Any]]:
    if not isinstance(raw, Mapping):
        errors["policy"] += 1
        return None, {}
    name = _text(raw.get("name")) or (policy_key(raw["id"]) if isinstance(raw.get("id"), str) else None)
    props = raw.get("properties")
    if not isinstance(props, Mapping):
        errors["policy.properties"] += 1
        props = {}
    if name is None:
        errors["policy.name"] += 1
    return name, props


def _policy(name: str, workload: str, parts: list[tuple[str, _Schedule]]) -> Policy:
    if not parts:
        text = "none"
    elif len(parts) == 1 and parts[0][0] == BACKUP:
        text = parts[0][1].text
    else:
        text = ", ".join(f"{kind.lower()} {schedule.text}" if kind != "Log" else schedule.text
                         for kind, schedule in parts)
    intervals = tuple((kind, s.seconds) for kind, s in parts if s.seconds is not None)
    return Policy(name, workload, text[:MAX_LABEL_CHARS], intervals)


def _rsv_schedule(raw: object, zone: str, errors: Counter[str]) -> _Schedule:
    """A `SchedulePolicy` (by schedulePolicyType) → its text and longest gap."""
    if not isinstance(raw, Mapping):
        errors["policy.schedulePolicy"] += 1
        return _Schedule("unknown", None)
    kind = _text(raw.get("schedulePolicyType")) or ""
    if kind not in ("SimpleSchedulePolicy", _V2):
        return _other_schedule(kind, raw, errors)
    frequency = _text(raw.get("scheduleRunFrequency")) or ""
    if frequency == "Hourly":
        return _hourly(raw.get("hourlySchedule"), zone, errors)
    if frequency not in ("Daily", "Weekly"):
        errors["policy.scheduleRunFrequency"] += 1
        return _Schedule(frequency[:MAX_LABEL_CHARS] or "unknown", None)
    nested = raw.get("weeklySchedule" if frequency == "Weekly" else "dailySchedule") if kind == _V2 else raw
    nested = nested if isinstance(nested, Mapping) else {}
    at = _clock(nested.get("scheduleRunTimes"), errors)
    if frequency == "Daily":
        return _Schedule(f"daily {at} {zone}", DAY)
    return _weekly(nested.get("scheduleRunDays"), at, zone, errors)


def _other_schedule(kind: str, raw: Mapping[str, Any], errors: Counter[str]) -> _Schedule:
    """A log schedule (SQL, HANA) or a kind this exporter does not know, kept verbatim."""
    if kind == "LogSchedulePolicy":
        minutes = _positive_int(raw.get("scheduleFrequencyInMins"))
        if minutes is not None:
            return _Schedule(f"log {minutes}m", minutes * 60.0)
        errors["policy.scheduleFrequencyInMins"] += 1
        return _Schedule("log", None)
    errors["policy.schedulePolicyType"] += 1
    return _Schedule(kind[:MAX_LABEL_CHARS] or "unknown", None)


def _weekly(days: object, at: str, zone: str, errors: Counter[str]) -> _Schedule:
    """Run days → the longest stretch between two of them (Sunday, Tuesday: 5 days, Tue → Sun)."""
    if not isinstance(days, list) or not days:
        errors["policy.scheduleRunDays"] += 1
        return _Schedule(f"weekly {at} {zone}", WEEK)
    known = sorted({_DAYS.index(d) for d in days if d in _DAYS})
    if len(known) != len(set(days)):
        errors["policy.scheduleRunDays"] += 1
    if not known:
        return _Schedule(f"weekly {at} {zone}", WEEK)
    gaps = [(b - a) % 7 or 7 for a, b in zip(known, [*known[1:], known[0]], strict=True)]
    names = ",".join(_DAYS[d][:3] for d in known)
    return _Schedule(f"weekly {names} {at} {zone}", max(gaps) * DAY)


def _hourly(raw: object, zone: str, errors: Counter[str]) -> _Schedule:
    """`hourlySchedule {interval, scheduleWindowStartTime, scheduleWindowDuration}`, in hours.

    The backups run from the window's start every `interval` hours while inside the window, the
    last one at the window's end included (Azure's docs: start 8 AM, 12 h window, every 4 h → 8,
    12, 16, 20); the night between the last and the next day's first is allowed."""
    hours = raw if isinstance(raw, Mapping) else {}
    interval, window = _positive_int(hours.get("interval")), _positive_int(hours.get("scheduleWindowDuration"))
    if interval is None or window is None:
        errors["policy.hourlySchedule"] += 1
        return _Schedule("hourly", None)
    start = _clock([hours.get("scheduleWindowStartTime")], errors)
    if window >= 24:
        return _Schedule(f"hourly every {interval}h {zone}", interval * 3600.0)
    last = (window // interval) * interval
    end = _plus_hours(start, window)
    return _Schedule(f"hourly every {interval}h {start}-{end} {zone}", max(interval, 24 - last) * 3600.0)


def _dpp_rule(rule: Mapping[str, Any], errors: Counter[str]) -> _Schedule:
    """An AzureBackupRule's `trigger.schedule.repeatingTimeIntervals` → text and longest gap."""
    store = rule.get("dataStore")
    store_type = _text(store.get("dataStoreType")) if isinstance(store, Mapping) else None
    trigger = rule.get("trigger")
    schedule = trigger.get("schedule") if isinstance(trigger, Mapping) else None
    intervals = schedule.get("repeatingTimeIntervals") if isinstance(schedule, Mapping) else None
    runs: list[tuple[float, float]] = []  # (start, period) in Unix seconds
    texts: list[str] = []
    for text in intervals if isinstance(intervals, list) else []:
        run = _repeating(text)
        if run is None:
            errors["policy.repeatingTimeIntervals"] += 1
            texts.append(str(text)[:60])
            continue
        runs.append(run)
        texts.append(f"{_period_text(run[1])} from {_start_clock(str(text))}")
    if not runs:
        if not texts:
            errors["policy.repeatingTimeIntervals"] += 1
        return _Schedule(" ".join([*texts, store_type or ""]).strip() or "unknown", None)
    label = f"{texts[0] if len(texts) == 1 else _period_text(runs[0][1]) + ' x' + str(len(runs))} {store_type or ''}"
    return _Schedule(label.strip(), _cyclic_gap(runs))


def _repeating(value: object) -> tuple[float, float] | None:
    """"R/2024-01-01T02:00:00+00:00/P1D" → (start, period seconds); None when unreadable."""
    match = _REPEATING.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        start, period = parse_time(match.group(1)), parse_azure_duration(match.group(2))
    except ValueError:
        return None
    if start is None or not period:
        return None
    return start, period


def _start_clock(text: str) -> str:
    """The start's time of day as the policy wrote it: "02:00 UTC", "08:00-08:00"."""
    match = re.search(r"T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:?\d\d)?/", text)
    if match is None:
        return "??:??"
    zone = match.group(2) or "UTC"
    return f"{match.group(1)} {'UTC' if zone in ('Z', '+00:00', '-00:00') else zone}"


def _cyclic_gap(runs: Sequence[tuple[float, float]]) -> float:
    """The longest gap between runs of several "R/start/period" (weekly on Sun and Wed: 4 days)."""
    period = max(p for _, p in runs)
    if any(p != period for _, p in runs):
        return period  # mixed periods: the slowest one bounds every gap
    offsets = sorted({start % period for start, _ in runs})
    return max((b - a) % period or period for a, b in zip(offsets, [*offsets[1:], offsets[0]], strict=True))


def _period_text(seconds: float) -> str:
    if seconds % WEEK == 0:
        return "weekly" if seconds == WEEK else f"every {int(seconds // WEEK)}w"
    if seconds % DAY == 0:
        return "daily" if seconds == DAY else f"every {int(seconds // DAY)}d"
    if seconds % 3600 == 0:
        return f"hourly every {int(seconds // 3600)}h"
    return f"every {int(seconds // 60)}m"


def _clock(times: object, errors: Counter[str]) -> str:
    """The first of `scheduleRunTimes` as HH:MM (only the time of day counts; the date is a placeholder)."""
    first = times[0] if isinstance(times, list) and times else None
    text = first if isinstance(first, str) else ""
    match = re.search(r"T(\d\d:\d\d)", text)
    if match is None:
        errors["policy.scheduleRunTimes"] += 1
        return "??:??"
    return match.group(1)


def _plus_hours(clock: str, hours: int) -> str:
    if not re.fullmatch(r"\d\d:\d\d", clock):
        return "??:??"
    total = (int(clock[:2]) + hours) % 24
    return f"{total:02d}:{clock[3:]}"


def _positive_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
