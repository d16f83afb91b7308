"""CRM adapters: how a restore reads live values and writes items, behind one small interface.

- `HubSpotClient`: HubSpot CRM v3 batch read/update/create (companies, contacts, deals, meetings,
  enrollments) with the documented request and response shapes; paces itself to a request rate,
  honors 429 + Retry-After, retries 5xx with exponential backoff. The local CRM service speaks the same
  API, so the same client drives the demo, the tests and a real portal.
- `FileTarget`: writes import files for teams that import by hand: HubSpot batch JSON and Salesforce
  Bulk API 2.0 CSV (plus its job definition). It cannot read a live CRM; it reads back what it exported.
"""

from __future__ import annotations

import csv
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Protocol

import requests

from crmguard.crm.objects import CrmObject
from crmguard.crm.server import RECORD_ID_PROPERTY
from crmguard.crm.vocabulary import to_canonical, to_vendor
from crmguard.errors import BadInput

BATCH_LIMIT = 100  # HubSpot's batch endpoints take at most 100 inputs
DEFAULT_LOCAL_URL = "http://127.0.0.1:8765"
HUBSPOT_URL = "https://api.hubapi.com"


@dataclass(frozen=True)
class ItemWrite:
    """One write: a record, the canonical properties to set and the item's idempotency key."""

    record_id: str
    properties: dict[str, str | None]
    key: str


@dataclass(frozen=True)
class WriteOutcome:
    """What the CRM said about one item: written, or failed with its error."""

    written: bool
    error: str | None = None


class OutcomeUnknown(Exception):
    """A write request whose answer never arrived (timeout, dropped connection): it may have committed."""


class CrmUnavailable(Exception):
    """The CRM kept failing (5xx, 429, connection) after every retry; nothing is known to be written."""


class CrmAdapter(Protocol):
    """What apply and verify need from a CRM."""

    name: str
    reads_live: bool

    def read(self, obj: CrmObject, ids: Sequence[str], columns: Sequence[str], *,
             by_record_id: bool = False) -> dict[str, dict[str, str | None]]:
        """Current values of `columns` for the records that exist (absent ids are missing records).

        `by_record_id`: the ids are crmguard's original record ids, which a recreated record carries in the
        `crmguard_record_id` property (a CRM gives a created record an id of its own)."""
        ...

    def write(self, obj: CrmObject, operation: str, items: Sequence[ItemWrite]) -> dict[str, WriteOutcome]:
        """Apply `update` or `create` items; outcome per item key."""
        ...


class RatePacer:
    """Spaces requests evenly at `rate` per second, so a client stays under the CRM's limit."""

    def __init__(self, rate: float | None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._sleep = sleep
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until this request's slot; slots are reserved under a lock, so threads share one pace."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


class HubSpotClient:
    """HubSpot CRM v3 client over requests; `base_url` points at api.hubapi.com or the local service."""

    reads_live = True

    def __init__(self, base_url: str, token: str, *, name: str = "hubspot", rate: float | None = None,
                 timeout: float = 10.0, max_attempts: int = 6, backoff: float = 0.2,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name, self.base_url, self.timeout = name, base_url.rstrip("/"), timeout
        self.max_attempts, self.backoff, self._sleep = max_attempts, backoff, sleep
        self.pacer = RatePacer(rate, sleep)
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        self.stats = {"requests": 0, "retries_429": 0, "retries_5xx": 0, "retries_connection": 0}

    def close(self) -> None:
        self.session.close()

    def read(self, obj: CrmObject, ids: Sequence[str], columns: Sequence[str], *,
             by_record_id: bool = False) -> dict[str, dict[str, str | None]]:
        """POST batch/read per 100 ids; ids the CRM does not know (207 errors) are simply absent.

        `by_record_id` reads by the unique `crmguard_record_id` property (HubSpot's `idProperty`), which
        is how a recreated record is found again: HubSpot gives it a new `hs_object_id`."""
        out: dict[str, dict[str, str | None]] = {}
        props = [obj.to_hubspot(c) for c in columns] + ([RECORD_ID_PROPERTY] if by_record_id else [])
        for start in range(0, len(ids), BATCH_LIMIT):
            body: dict = {"properties": props, "inputs": [{"id": i} for i in ids[start:start + BATCH_LIMIT]]}
            if by_record_id:
                body["idProperty"] = RECORD_ID_PROPERTY
            _, payload = self._post(f"/crm/v3/objects/{obj.hubspot_type}/batch/read", body, is_write=False)
            for result in payload.get("results", []):
                values = result.get("properties") or {}
                key = values.get(RECORD_ID_PROPERTY) if by_record_id else result["id"]
                out[str(key)] = {c: to_canonical("hubspot", obj.name, c, values.get(obj.to_hubspot(c)))
                                 for c in columns}
        return out

    def write(self, obj: CrmObject, operation: str, items: Sequence[ItemWrite]) -> dict[str, WriteOutcome]:
        """One batch/update, batch/create or batch/archive; a 207's per-record errors fail only those items."""
        if operation not in ("update", "create", "archive"):
            raise BadInput(f"unsupported CRM operation {operation!r}")
        inputs = [_hubspot_input(obj, operation, item) for item in items]
        status, payload = self._post(f"/crm/v3/objects/{obj.hubspot_type}/batch/{operation}",
                                     {"inputs": inputs}, is_write=True, idempotent=operation != "create")
        if status >= 400:
            message = f"HTTP {status} {payload.get('category', '')}: {payload.get('message', '')}".strip()
            return {item.key: WriteOutcome(False, message) for item in items}
        failed = _failed_ids(payload)
        return {item.key: WriteOutcome(False, failed[item.record_id]) if item.record_id in failed
                else WriteOutcome(True) for item in items}

    def _post(self, path: str, body: dict, *, is_write: bool, idempotent: bool = True) -> tuple[int, dict]:
        """POST with pacing and bounded retries; a write whose answer is lost raises OutcomeUnknown.

        A 5xx after a create raises OutcomeUnknown too: a gateway error can follow a committed create, and
        sending it again would make a second record. Apply re-reads and creates only what is missing."""
        last = ""
        for attempt in range(self.max_attempts):
            self.pacer.wait()
            self.stats["requests"] += 1
            try:
                response = self.session.post(self.base_url + path, json=body, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if is_write:
                    raise OutcomeUnknown(f"{path}: no answer ({type(exc).__name__})") from None
                self.stats["retries_connection"] += 1
                last = f"{type(exc).__name__}"
                self._sleep(self._delay(attempt))
                continue
            if response.status_code == 429:
                self.stats["retries_429"] += 1
                last = "429 rate limited"
                self._sleep(_retry_after(response) or self._delay(attempt))
                continue
            if response.status_code >= 500:
                if is_write and not idempotent:
                    raise OutcomeUnknown(f"{path}: HTTP {response.status_code} after a create")
                self.stats["retries_5xx"] += 1
                last = f"HTTP {response.status_code}"
                self._sleep(self._delay(attempt))
                continue
            return response.status_code, (response.json() if response.content else {})
        raise CrmUnavailable(f"{self.base_url}{path}: gave up after {self.max_attempts} attempts ({last})")

    def _delay(self, attempt: int) -> float:
        return min(self.backoff * 2**attempt, 10.0)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _hubspot_input(obj: CrmObject, operation: str, item: ItemWrite) -> dict:
    if operation == "archive":
        return {"id": item.record_id, "objectWriteTraceId": item.key}
    props = {obj.to_hubspot(c): ("" if v is None else to_vendor("hubspot", obj.name, c, v))
             for c, v in item.properties.items()}
    if operation == "create":
        return {"properties": props | {RECORD_ID_PROPERTY: item.record_id}, "objectWriteTraceId": item.key}
    return {"id": item.record_id, "properties": props, "objectWriteTraceId": item.key}


def _failed_ids(payload: dict) -> dict[str, str]:
    """Record id -> error message from a 207 answer's `errors`."""
    failed: dict[str, str] = {}
    for error in payload.get("errors") or []:
        message = f"{error.get('category', 'ERROR')}: {error.get('message', '')}"
        for record_id in (error.get("context") or {}).get("ids") or []:
            failed[str(record_id)] = message
    return failed


class FileTarget:
    """Import files instead of API calls: HubSpot batch JSON and Salesforce Bulk API 2.0 CSV per batch."""

    reads_live = False
    name = "file"  # the adapter recorded in the apply log (the audit tells exports from CRM writes by it)

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        (self.out_dir / "hubspot").mkdir(parents=True, exist_ok=True)
        (self.out_dir / "salesforce").mkdir(parents=True, exist_ok=True)

    def read(self, obj: CrmObject, ids: Sequence[str], columns: Sequence[str], *,
             by_record_id: bool = False) -> dict[str, dict[str, str | None]]:
        """What earlier batches exported for these records (a rerun must not export an item twice); a
        created record is listed under its record id either way."""
        wanted, out = set(ids), {}
        for path in sorted((self.out_dir / "hubspot").glob(f"*-{obj.hubspot_type}-*.json")):
            for entry in json.loads(path.read_text())["inputs"]:
                props = entry.get("properties")
                if props is None:  # an archive: the record is listed, with no values
                    if entry["id"] in wanted:
                        out[entry["id"]] = {}
                    continue
                record_id = entry.get("id") or props.get(RECORD_ID_PROPERTY)
                if record_id in wanted:
                    row = out.setdefault(record_id, {})
                    row.update({c: to_canonical("hubspot", obj.name, c, props[obj.to_hubspot(c)] or None)
                                for c in columns if obj.to_hubspot(c) in props})
        return out

    def write(self, obj: CrmObject, operation: str, items: Sequence[ItemWrite]) -> dict[str, WriteOutcome]:
        number = len(list((self.out_dir / "hubspot").glob("*.json"))) + 1
        stem = f"{number:04d}-{obj.hubspot_type}-{operation}"
        inputs = [_hubspot_input(obj, operation, item) for item in items]
        _atomic_write(self.out_dir / "salesforce" / f"{number:04d}-{obj.salesforce_type}-{operation}.csv",
                      _bulk_csv(obj, operation, items))
        job = {"object": obj.salesforce_type,
               "operation": {"create": "upsert", "archive": "delete"}.get(operation, "update"),
               "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"}
        if operation == "create":
            job["externalIdFieldName"] = "Crmguard_Record_Id__c"
        _atomic_write(self.out_dir / "salesforce" / f"{number:04d}-{obj.salesforce_type}-{operation}.job.json",
                      json.dumps(job, indent=2, sort_keys=True) + "\n")
        # The HubSpot file is written last: its presence is what read() treats as "exported".
        _atomic_write(self.out_dir / "hubspot" / f"{stem}.json",
                      json.dumps({"inputs": inputs}, indent=2, sort_keys=True) + "\n")
        return {item.key: WriteOutcome(True) for item in items}


def _bulk_csv(obj: CrmObject, operation: str, items: Sequence[ItemWrite]) -> str:
    """Bulk API 2.0 CSV: empty cell = leave unchanged, `#N/A` = set to null."""
    columns = sorted({c for item in items for c in item.properties})
    id_field = "Crmguard_Record_Id__c" if operation == "create" else "Id"
    header = [id_field] + [obj.salesforce_fields.get(c, c) for c in columns]
    lines: list[list[str]] = [header]
    for item in items:
        cells = [("#N/A" if item.properties[c] is None else to_vendor("salesforce", obj.name, c, item.properties[c]))
                 if c in item.properties else "" for c in columns]
        lines.append([item.record_id, *cells])
    buffer = StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    return buffer.getvalue()


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def target_adapter(target: str, *, crm_url: str | None = None, rate: float | None = None,
                   token: str | None = None) -> CrmAdapter:
    """Resolve `--target`: `local` (the local CRM service), `hubspot` (a portal), or `file:DIR`."""
    if target == "local":
        url = crm_url or os.environ.get("CRMGUARD_CRM_URL") or DEFAULT_LOCAL_URL
        if not url.startswith(("http://127.0.0.1", "http://localhost")):
            raise BadInput(f"--crm-url {url}: the local CRM service only listens on 127.0.0.1")
        return HubSpotClient(url, token or "usr_crmguard_restore", name="local", rate=rate)
    if target == "hubspot":
        secret = token or os.environ.get("HUBSPOT_TOKEN")
        if not secret:
            raise BadInput("--target hubspot needs a private-app token in HUBSPOT_TOKEN")
        return HubSpotClient(crm_url or os.environ.get("HUBSPOT_URL") or HUBSPOT_URL, secret,
                             name="hubspot", rate=rate or 10)
    if target.startswith("file:") and len(target) > 5:
        return FileTarget(target[5:])
    raise BadInput(f"--target {target!r}: use local, hubspot or file:DIR")
