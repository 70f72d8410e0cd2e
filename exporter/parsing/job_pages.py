"""Recovery Services job list pages decoded straight from their bytes into the few fields a `Job`
needs, the poll's hot path; any page or job out of the common shape goes to `parse_job` instead.

Why: a cold poll reads 100,000 jobs. A generic decoder builds a dict for every job and its ~15
properties, most of which the exporter never reads; msgspec's typed decoder skips them in C and
hands over only the fields below (bench/RESULTS.md, poll pipeline).

The contract is `parse_job`'s, exactly: `parse_listed_job` gives the same `Job` and the same error
counts for every job a generic decoder would have read (tests/parsing/test_job_pages.py checks it
on generated pages). Every field is typed `Any`, so no value can make the typed decoding fail; a
page that is not a page at all (no `value` list, a job that is not an object, `properties` that is
not an object, a nextLink that is not a string, numbers msgspec cannot hold) is left to the
generic decoder, which reads or refuses it as before.
"""

from __future__ import annotations

from collections import Counter
from sys import intern
from typing import Any

import msgspec

from exporter.model import Job
from exporter.parsing.common import times_of
from exporter.parsing.jobs import error_labels, parse_job

__all__ = ["decode_job_page", "parse_listed_job"]


# gc=False: decoded JSON is a tree, never a cycle, so the collector need not track 200 jobs a page.
class _Properties(msgspec.Struct, gc=False):
    entityFriendlyName: Any = None  # noqa: N815 - Azure's JSON names
    backupManagementType: Any = None  # noqa: N815
    operation: Any = None
    status: Any = None
    startTime: Any = None  # noqa: N815
    endTime: Any = None  # noqa: N815
    duration: Any = None
    errorDetails: Any = None  # noqa: N815
    # Only single-job GETs carry it (recorded traffic); UNSET tells "absent" from "null", as
    # parse_job's `has_details` does.
    extendedInfo: Any = msgspec.UNSET  # noqa: N815


class _Listed(msgspec.Struct, gc=False):
    name: Any = None
    id: Any = None
    properties: _Properties | None = None


class _Page(msgspec.Struct, gc=False):
    value: list[_Listed]
    nextLink: str | None = None  # noqa: N815


_DECODER = msgspec.json.Decoder(_Page)
_new_job = tuple.__new__
_FIELDS = _Properties.__struct_fields__


def decode_job_page(content: bytes) -> tuple[list[Any], str | None] | None:
    """A job list page's jobs (for `parse_listed_job`) and nextLink; None when the page is not of
    the common shape (the caller decodes it generically then)."""
    try:
        page = _DECODER.decode(content)
    except msgspec.DecodeError:
        return None
    return page.value, page.nextLink


def parse_listed_job(raw: Any, errors: Counter[str]) -> Job | None:
    """`parse_job` of one job of a page, as `decode_job_page` or a generic decoder read it."""
    if type(raw) is not _Listed:
        return parse_job(raw, errors)
    props, name = raw.properties, raw.name
    if props is None or type(name) is not str or not name or props.extendedInfo is not msgspec.UNSET:
        return parse_job(_as_dict(raw), errors)
    item, management, operation, status = props.entityFriendlyName, props.backupManagementType, \
        props.operation, props.status
    # A label that parse_job would count or replace: its own path, not a copy of it here.
    if not (type(item) is str and item and type(management) is str and management
            and type(operation) is str and operation and type(status) is str and status):
        return parse_job(_as_dict(raw), errors)
    # One string object per distinct label, not one per job: the store's key tuples then compare
    # by identity, and a poll's 100,000 jobs hold ~4 strings fewer each until they are folded in.
    # sys.intern's strings are freed with their last reference: no table to bound.
    item, management, operation, status = intern(item), intern(management), intern(operation), intern(status)
    start, end, duration = times_of(props.startTime, props.endTime, props.duration, errors)
    details = props.errorDetails
    error_code, error_title = (None, None) if details is None else error_labels(details, errors)
    # tuple.__new__ skips Job.__new__'s Python frame: every field is given, as Job lists them.
    return _new_job(Job, (name, item, management, operation, status, start, end, duration, None, error_code,
                          error_title, None, (), False))


def _as_dict(raw: _Listed) -> dict[str, Any]:
    """The job as a generic decoder gives it, as far as parse_job reads it."""
    props = raw.properties
    properties = None
    if props is not None:
        properties = {field: getattr(props, field) for field in _FIELDS}
        if props.extendedInfo is msgspec.UNSET:
            del properties["extendedInfo"]
    return {"name": raw.name, "id": raw.id, "properties": properties}
