"""Bulk delete and bulk edit: the rules of the two bulk endpoints, over the store's atomic operations.

Pure Python, no web framework. Bodies arrive already checked against their JSON Schemas
(`schemas/bulk-delete.json`, `schemas/bulk-edit.json`); what a schema cannot say (the filter
language, the nesting limit) is checked here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from mock_runtype.model.errors import InvalidRequest
from mock_runtype.model.filters import conditions_to_filter, parse_record_filter
from mock_runtype.model.records import Record, check_metadata_size, check_nesting
from mock_runtype.model.store import MetadataEdit, Store

MAX_BULK_EDIT_RECORDS = 10_000
SELECTORS = ("recordIds", "conditions", "recordFilter", "applyToAll")


def bulk_delete(store: Store, tenant_key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Delete the tenant's records among `ids`; others' ids and unknown ids are "not found"."""
    deleted, missing = store.delete_many(tenant_key, body["ids"])
    return {"success": True, "deleted": len(deleted), "deletedIds": deleted, "notFoundIds": missing}


@dataclass
class BulkEdit:
    """A checked bulk edit: which records, what to set and remove, and whether to only preview."""

    record_ids: list[str] | None
    record_type: str | None
    matches: Callable[[Record, int], bool] | None
    updates: dict[str, Any]
    delete_fields: list[str]
    dry_run: bool

    def new_metadata(self, record: Record) -> dict[str, Any]:
        """The record's metadata after the edit; 422 if it would outgrow the size limit."""
        removed = set(self.delete_fields)
        metadata = {key: value for key, value in record.metadata.items() if key not in removed}
        metadata.update(self.updates)
        if metadata != record.metadata:
            check_metadata_size(metadata, f"record {record.id}'s", path="updates", recordId=record.id)
        return metadata


def parse_bulk_edit(body: Mapping[str, Any]) -> BulkEdit:
    """A schema-valid bulk-edit body (its schema asks for exactly one selector and some change) -> BulkEdit."""
    selector = next(key for key in SELECTORS if key in body and body[key] is not False)
    check_nesting(body, ("updates",))  # the keys it sets sit at the metadata's top level
    updates = dict(body.get("updates") or {})
    delete_fields = list(dict.fromkeys(body.get("deleteFields") or []))
    record_ids = record_type = matches = None
    if selector == "recordIds":
        record_ids = body["recordIds"]
    elif selector == "conditions":
        matches = conditions_to_filter(body["conditions"]).matches
    elif selector == "recordFilter":
        record_type, where = parse_record_filter(body["recordFilter"])
        matches = where.matches if where is not None else None
    return BulkEdit(record_ids, record_type, matches, updates, delete_fields, bool(body.get("dryRun")))


def bulk_edit(store: Store, tenant_key: str, edit: BulkEdit) -> dict[str, Any]:
    """Apply (or, on a dry run, only compute) the edit: all of it or, on any failure, none of it."""
    now = store.clock.now_ms(tenant_key)
    matches = edit.matches
    edits: list[MetadataEdit] = store.edit_metadata(
        tenant_key,
        edit.new_metadata,
        record_ids=edit.record_ids,
        record_type=edit.record_type,
        matches=(lambda record: matches(record, now)) if matches is not None else None,
        dry_run=edit.dry_run,
        max_records=MAX_BULK_EDIT_RECORDS,
    )
    return {
        "data": [{"id": e.before.id, "before": e.before.metadata, "after": e.after.metadata} for e in edits],
        "recordIds": [e.before.id for e in edits if e.changed],
        "dryRun": edit.dry_run,
        "warnings": None,
        "schemaWarnings": None,
    }
