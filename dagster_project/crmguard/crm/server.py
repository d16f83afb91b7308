"""`crmguard crm serve`: a local CRM speaking a HubSpot CRM v3 API subset over HTTP on loopback.

Endpoints (request and response shapes as HubSpot documents them):
- POST /crm/v3/objects/{type}/batch/read     {"properties": [...], "inputs": [{"id"}]}
- POST /crm/v3/objects/{type}/batch/update   {"inputs": [{"id", "properties", "objectWriteTraceId"}]}
- POST /crm/v3/objects/{type}/batch/create   {"inputs": [{"properties", "objectWriteTraceId"}]}
- POST /crm/v3/objects/{type}/batch/archive  {"inputs": [{"id"}]}
- GET  /crm/v3/objects/{type}/{id}?properties=a,b
- GET  /_crmguard/health, GET /_crmguard/writes (applied writes per trace id, for tests and benchmarks)

`{type}` is companies, contacts, deals, meetings, p_sequence_enrollments or emails (scheduled emails, which
a restore cancels). Partial failures answer 207
with `errors` (OBJECT_NOT_FOUND, VALIDATION_ERROR), as HubSpot's batch endpoints do. The bearer token is
taken as the integration user's id and stamped into `updated_by`, as HubSpot stamps a private app's
writes with its user. Faults come from crmguard.crm.faults. It binds to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from crmguard.crm.faults import FaultPlan, parse_faults, retry_after_header
from crmguard.crm.objects import CRM_OBJECTS, CrmObject
from crmguard.crm.store import CrmStore
from crmguard.crm.vocabulary import misspelled_canonical, to_canonical, to_vendor

LOOPBACK = "127.0.0.1"
RECORD_ID_PROPERTY = "crmguard_record_id"  # lets a recreate keep the record's original id
_BY_HUBSPOT_TYPE = {o.hubspot_type: o for o in CRM_OBJECTS.values() if o.name != "users"}


class ApiError(Exception):
    """An HTTP error answer in HubSpot's error shape."""

    def __init__(self, status: int, category: str, message: str) -> None:
        super().__init__(message)
        self.status, self.category = status, category


class CrmHandler(BaseHTTPRequestHandler):
    """One request. The server object carries the store and the fault plan."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a real API client expects
    server: CrmServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        """Silent: a busy apply would otherwise print a line per request."""

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] == ["_crmguard"]:
            self._admin(parts[1:])
            return
        faults = self.server.faults
        number, rate_wait = faults.next_request()
        try:
            if not self.headers.get("Authorization", "").startswith("Bearer "):
                raise ApiError(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
            if rate_wait is not None or number in faults.fail_429:
                self._send(429, {"status": "error", "category": "RATE_LIMITS",
                                 "message": "You have reached your secondly limit."},
                           {"Retry-After": retry_after_header(rate_wait or faults.retry_after)})
                return
            if number in faults.fail_500:
                raise ApiError(500, "INTERNAL_ERROR", "injected server error")
            status, payload = self._route(method, parts, url.query, body)
            if number in faults.timeout_after_commit and parts[-1] in ("update", "create", "archive"):
                self.close_connection = True  # the write is committed; the answer never arrives
                return
            self._send(status, payload)
        except ApiError as exc:
            self._send(exc.status, {"status": "error", "category": exc.category, "message": str(exc),
                                    "correlationId": str(uuid.uuid4())})

    def _read_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON") from None
        return body if isinstance(body, dict) else {}

    def _route(self, method: str, parts: list[str], query: str, body: dict) -> tuple[int, dict]:
        if parts[:3] != ["crm", "v3", "objects"] or len(parts) < 5:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"no route for {self.path}")
        obj = _BY_HUBSPOT_TYPE.get(parts[3])
        if obj is None:
            raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {parts[3]}")
        if method == "GET" and len(parts) == 5:
            props = parse_qs(query).get("properties", [""])[0].split(",")
            return self._read(obj, {"inputs": [{"id": parts[4]}], "properties": props}, single=True)
        if method == "POST" and len(parts) == 6 and parts[4] == "batch":
            action = parts[5]
            inputs = body.get("inputs")
            if not isinstance(inputs, list) or not inputs or len(inputs) > 100:
                raise ApiError(400, "VALIDATION_ERROR", "inputs must be a list of 1 to 100 objects")
            if action == "read":
                return self._read(obj, body)
            if action in ("update", "create", "archive"):
                return self._write(obj, action, inputs)
        raise ApiError(404, "OBJECT_NOT_FOUND", f"no route for {method} {self.path}")

    def _read(self, obj: CrmObject, body: dict, single: bool = False) -> tuple[int, dict]:
        # `idProperty`: a unique property to look records up by. A record created here keeps its
        # `crmguard_record_id` as its id, so looking up by that property is looking up by id.
        if body.get("idProperty") not in (None, "hs_object_id", RECORD_ID_PROPERTY):
            raise ApiError(400, "VALIDATION_ERROR", f"idProperty {body['idProperty']!r}: this service looks records "
                           f"up by hs_object_id or {RECORD_ID_PROPERTY} only")
        ids = [str(i.get("id")) for i in body["inputs"]]
        wanted = [p for p in body.get("properties") or [] if p] or [obj.to_hubspot(c) for c in obj.columns]
        records = self.server.store.read(obj, ids)
        results = [_hubspot_record(obj, records[i], wanted) for i in ids if i in records]
        missing = [i for i in ids if i not in records]
        if single:
            if missing:
                raise ApiError(404, "OBJECT_NOT_FOUND", f"resource not found: {ids[0]}")
            return 200, results[0]
        return _batch_answer(obj, results, [_not_found(obj, missing)] if missing else [], 200)

    def _write(self, obj: CrmObject, action: str, inputs: list[dict]) -> tuple[int, dict]:
        user = self.headers["Authorization"].removeprefix("Bearer ").strip()
        locked = self.server.faults.locked
        accepted: list[tuple[str, dict, str | None]] = []
        errors: list[dict] = []
        missing: list[str] = []
        existing = self.server.store.read(obj, [str(i.get("id")) for i in inputs if i.get("id")])
        for entry in inputs:
            props = _canonical_props(obj, entry.get("properties") or {})
            record_id = str(entry.get("id") or props.pop(RECORD_ID_PROPERTY, None) or uuid.uuid4().hex[:12])
            props.pop(RECORD_ID_PROPERTY, None)
            if action != "create" and record_id not in existing:
                missing.append(record_id)
            elif (obj.name, record_id) in locked:
                errors.append({"status": "error", "category": "VALIDATION_ERROR",
                               "message": f"record {record_id} is locked by a validation rule",
                               "context": {"ids": [record_id]},
                               "objectWriteTraceId": entry.get("objectWriteTraceId")})
            else:
                accepted.append((record_id, props, entry.get("objectWriteTraceId")))
        written = self.server.store.write(obj, action, accepted, user) if accepted else {}
        if missing:
            errors.append(_not_found(obj, missing))
        if action == "archive":
            return (207, {"status": "COMPLETE", "errors": errors}) if errors else (204, {})
        results = [_hubspot_record(obj, written[i[0]], None) for i in accepted if i[0] in written]
        return _batch_answer(obj, results, errors, 201 if action == "create" else 200)

    def _admin(self, parts: list[str]) -> None:
        if parts == ["health"]:
            self._send(200, {"status": "ok", "requests": self.server.faults.requests})
        elif parts == ["writes"]:
            self._send(200, {"writes": self.server.store.write_counts(), "requests": self.server.faults.requests})
        else:
            self._send(404, {"status": "error", "category": "OBJECT_NOT_FOUND", "message": self.path})

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = b"" if status == 204 else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _canonical_props(obj: CrmObject, props: dict) -> dict[str, str | None]:
    """HubSpot property names -> canonical columns; unknown and audit properties are refused."""
    out: dict[str, str | None] = {}
    for prop, value in props.items():
        if prop == RECORD_ID_PROPERTY:
            out[prop] = str(value)
            continue
        column = obj.from_hubspot(prop)
        if column is None or column not in obj.writable:
            raise ApiError(400, "VALIDATION_ERROR", f"Property {prop!r} does not exist or is read-only")
        text = None if value is None or value == "" else str(value)
        spelled = misspelled_canonical("hubspot", obj.name, column, text)
        if spelled is not None:  # as HubSpot refuses an option it does not have
            raise ApiError(400, "VALIDATION_ERROR",
                           f"{text!r} was not one of the allowed options for {prop!r} (did you mean {spelled!r}?)")
        out[column] = to_canonical("hubspot", obj.name, column, text)
    return out


def _hubspot_record(obj: CrmObject, record: dict, wanted: list[str] | None) -> dict:
    props = {obj.to_hubspot(c): to_vendor("hubspot", obj.name, c, record[c]) for c in obj.columns}
    props["hs_object_id"] = props[RECORD_ID_PROPERTY] = record[obj.id_column]
    if wanted is not None:
        props = {p: props.get(p) for p in wanted}
    stamp = record.get("updated_at") or _now()
    return {"id": record[obj.id_column], "properties": props, "createdAt": stamp, "updatedAt": stamp,
            "archived": False}


def _not_found(obj: CrmObject, ids: list[str]) -> dict:
    return {"status": "error", "category": "OBJECT_NOT_FOUND",
            "message": f"Could not get some {obj.hubspot_type} objects, they may be deleted or not exist.",
            "context": {"ids": ids}}


def _batch_answer(obj: CrmObject, results: list[dict], errors: list[dict], ok_status: int) -> tuple[int, dict]:
    now = _now()
    payload: dict = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
    if errors:
        payload |= {"numErrors": len(errors), "errors": errors}
        return 207, payload
    return ok_status, payload


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class CrmServer(ThreadingHTTPServer):
    """The HTTP server plus the store and fault plan its handlers share."""

    daemon_threads = True

    def __init__(self, store: CrmStore, faults: FaultPlan, port: int = 0) -> None:
        super().__init__((LOOPBACK, port), CrmHandler)
        self.store, self.faults = store, faults

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"


@dataclass
class RunningService:
    """A service started in this process (tests, demo): its URL, store and fault plan."""

    url: str
    store: CrmStore
    faults: FaultPlan


@contextmanager
def running_service(data_dir: str | Path, faults: str | FaultPlan | None = None, port: int = 0) -> Iterator[RunningService]:
    """Serve in a background thread for the duration of the block; always stopped and closed after."""
    plan = faults if isinstance(faults, FaultPlan) else parse_faults(faults)
    store = CrmStore(data_dir)
    server = CrmServer(store, plan, port)
    thread = threading.Thread(target=server.serve_forever, name="crmguard-crm", daemon=True)
    thread.start()
    try:
        yield RunningService(server.url, store, plan)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        store.close()


def serve_forever(data_dir: str | Path, faults: str | None, port: int) -> None:
    """Foreground serving for `crmguard crm serve` until Ctrl-C (SIGINT) or SIGTERM.

    The server runs in a thread and the main thread only waits for a stop signal, so the signal never
    lands as a KeyboardInterrupt somewhere inside the server's own code (once, in a test run under
    load, the process did not exit within 30 s of SIGINT). Stopping takes the same orderly path as
    `running_service`: shut the server down, close the socket, close the store.
    """
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with running_service(data_dir, faults, port) as service:
            print(f"crmguard CRM service on {service.url} (data {service.store.path}); Ctrl-C to stop", flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
