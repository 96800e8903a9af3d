"""The mock's files, batches and message batches: a time-compressed lifecycle, no IO.

Every operation takes ``now`` (monotonic seconds) and ``wall`` (Unix
seconds); the state of a batch is a function of the time since it was
created (or cancelled), so a test can step through it without sleeping.

OpenAI (``Batch.status``), with ``phase`` = ``MockServer(batch_phase=...)``
seconds and the ``24h`` completion window compressed to ``batch_window``::

    validating --phase--> in_progress --phase--> finalizing --phase--> completed
        |                      | (window passed)                       (output/error files)
        +-> failed             +-> expired (done lines in the output, the rest
            (errors.data:           batch_expired in the error file)
             invalid_json_line, url_mismatch, ...)
    cancel: cancelling --phase--> cancelled (done lines kept, the rest batch_cancelled)

Anthropic (``MessageBatch.processing_status``): ``in_progress`` for two
phases, then ``ended``; ``canceling`` for one phase after a cancel.  Counts
other than ``processing`` stay 0 until the batch ends, as documented.

Each request line is answered by ``answer(api, body, anthropic)``, the same
reply machinery (and fault script) as online calls: a faulted line is a
partial failure in the error file (OpenAI) or an ``errored`` result
(Anthropic).  Lines run in order, at an even pace over the in-progress phase.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

__all__ = ["Answer", "BatchStore", "StoreError"]

# (status, body bytes, request id) for one request line.
Answer = Callable[[str, dict[str, Any], bool], tuple[int, bytes, str]]

MAX_FILE_BYTES = 200_000_000
MAX_OPENAI_REQUESTS = 50_000
MAX_ANTHROPIC_REQUESTS = 100_000
MAX_ANTHROPIC_BYTES = 256_000_000
_ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
}
_ANTHROPIC_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_encode = msgspec.json.encode
_decode = msgspec.json.decode


class StoreError(Exception):
    """An error answer: HTTP ``status`` with ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class _File:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def obj(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass(slots=True)
class _Job:
    """What both kinds of batch share: requests, progress, outcomes."""

    id: str
    anthropic: bool
    created: float  # monotonic
    created_at: int  # unix
    requests: list[tuple[str, dict[str, Any]]]  # (custom_id, body)
    api: str
    window: float
    phase: float
    failed: list[dict[str, Any]] | None = None  # OpenAI validation errors
    cancelled: float | None = None
    cancelled_at: int | None = None
    outcomes: list[tuple[int, bytes, str]] = field(default_factory=list)
    ended: float | None = None
    end_kind: str = ""  # "completed" | "expired" | "cancelled" | "failed"
    output_file_id: str | None = None
    error_file_id: str | None = None
    results: bytes | None = None

    def run_start(self) -> float:
        return self.created + (0.0 if self.anthropic else self.phase)

    def due(self, t: float) -> int:
        """Requests whose turn has come by time ``t``."""
        elapsed = t - self.run_start()
        if elapsed <= 0:
            return 0
        span = self.phase if not self.anthropic else 2 * self.phase
        if span <= 0 or elapsed >= span:
            return len(self.requests)
        return min(len(self.requests), math.floor(len(self.requests) * elapsed / span))

    def run_end(self) -> float:
        return self.run_start() + (self.phase if not self.anthropic else 2 * self.phase)


class BatchStore:
    """Files, batches and message batches of one MockServer."""

    def __init__(
        self, answer: Answer, new_id: Callable[[], str], *, phase: float, window: float
    ) -> None:
        self.answer = answer
        self.new_id = new_id
        self.phase = phase
        self.window = window
        self.files: dict[str, _File] = {}
        self.jobs: dict[str, _Job] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    # -- files -----------------------------------------------------------------------

    def add_file(self, filename: str, purpose: str, data: bytes, wall: float) -> dict[str, Any]:
        if not purpose:
            raise StoreError(400, "Missing required parameter: 'purpose'.")
        if len(data) > MAX_FILE_BYTES:
            raise StoreError(400, "File is too large.")
        if purpose == "batch" and not filename.endswith(".jsonl"):
            raise StoreError(400, "Invalid file format for Batch API. Must be .jsonl")
        f = _File("file-" + self.new_id(), filename, purpose, data, int(wall))
        self.files[f.id] = f
        return f.obj()

    def file(self, file_id: str) -> _File:
        f = self.files.get(file_id)
        if f is None:
            raise StoreError(404, f"No such File object: {file_id}")
        return f

    def delete_file(self, file_id: str) -> dict[str, Any]:
        self.file(file_id)
        del self.files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def list_files(self, query: dict[str, str]) -> dict[str, Any]:
        items = [f.obj() for f in self.files.values()]
        if query.get("purpose"):
            items = [f for f in items if f["purpose"] == query["purpose"]]
        items.sort(key=lambda f: f["created_at"], reverse=query.get("order", "desc") != "asc")
        return _page(items, query, "after", openai=True)

    # -- OpenAI batches ---------------------------------------------------------------

    def create_batch(self, body: Any, now: float, wall: float) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise StoreError(400, "We could not parse the JSON body of your request.")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(name), str):
                raise StoreError(400, f"Missing required parameter: '{name}'.")
        endpoint = body["endpoint"]
        if endpoint not in _ENDPOINTS:
            raise StoreError(400, f"Invalid value for 'endpoint': {endpoint!r}.")
        if body["completion_window"] != "24h":
            raise StoreError(400, "Invalid value for 'completion_window': only '24h'.")
        f = self.file(body["input_file_id"])
        if f.purpose != "batch":
            raise StoreError(400, "The input file must be uploaded with purpose 'batch'.")
        requests, errors = _parse_input(f.data, endpoint)
        job = _Job(
            id="batch_" + self.new_id(),
            anthropic=False,
            created=now,
            created_at=int(wall),
            requests=requests,
            api=_ENDPOINTS[endpoint],
            window=self.window,
            phase=self.phase,
            failed=errors or None,
        )
        job_meta = {"endpoint": endpoint, "input_file_id": f.id, "metadata": body.get("metadata")}
        self.jobs[job.id] = job
        self._meta[job.id] = job_meta
        return self.batch_obj(job.id, now, wall)

    def batch_obj(self, batch_id: str, now: float, wall: float) -> dict[str, Any]:
        job = self._job(batch_id, anthropic=False)
        self._advance(job, now, wall)
        meta = self._meta[job.id]
        status = self._openai_status(job, now)
        t = job.created_at
        done = len(job.outcomes)
        failed = sum(1 for s, _, _ in job.outcomes if not 200 <= s < 300)
        if job.end_kind in ("expired", "cancelled"):
            failed += len(job.requests) - done

        def at(mono: float | None, when: bool = True) -> int | None:
            return int(wall - (now - mono)) if mono is not None and when and mono <= now else None

        ended = job.ended
        obj: dict[str, Any] = {
            "id": job.id,
            "object": "batch",
            "endpoint": meta["endpoint"],
            "errors": None,
            "input_file_id": meta["input_file_id"],
            "completion_window": "24h",
            "status": status,
            "output_file_id": job.output_file_id,
            "error_file_id": job.error_file_id,
            "created_at": t,
            "in_progress_at": at(job.run_start(), not job.failed),
            "expires_at": t + 86_400,
            "finalizing_at": at(job.run_end(), job.cancelled is None and not job.failed),
            "completed_at": at(ended, status == "completed"),
            "failed_at": at(job.created + job.phase, status == "failed"),
            "expired_at": at(ended, status == "expired"),
            "cancelling_at": job.cancelled_at,
            "cancelled_at": at(ended, status == "cancelled"),
            "request_counts": {
                "total": len(job.requests),
                "completed": done - sum(1 for s, _, _ in job.outcomes if not 200 <= s < 300),
                "failed": failed,
            },
            "metadata": meta["metadata"],
        }
        if job.failed:
            obj["errors"] = {"object": "list", "data": job.failed}
            obj["request_counts"] = {"total": 0, "completed": 0, "failed": 0}
        return obj

    def cancel_batch(self, batch_id: str, now: float, wall: float) -> dict[str, Any]:
        job = self._job(batch_id, anthropic=False)
        self._advance(job, now, wall)
        if job.ended is None and job.cancelled is None and not job.failed:
            job.cancelled, job.cancelled_at = now, int(wall)
        elif job.ended is not None:
            raise StoreError(400, f"Cannot cancel a batch with status '{job.end_kind}'.")
        return self.batch_obj(batch_id, now, wall)

    def list_batches(self, query: dict[str, str], now: float, wall: float) -> dict[str, Any]:
        ids = [j.id for j in self.jobs.values() if not j.anthropic][::-1]
        items = [self.batch_obj(i, now, wall) for i in ids]
        return _page(items, query, "after", openai=True)

    def _openai_status(self, job: _Job, now: float) -> str:
        if job.failed:
            return "validating" if now < job.created + job.phase else "failed"
        if job.ended is not None:
            return job.end_kind
        if job.cancelled is not None:
            return "cancelling"
        if now < job.run_start():
            return "validating"
        if now < job.run_end():
            return "in_progress"
        return "finalizing"

    # -- Anthropic message batches ----------------------------------------------------------

    def create_message_batch(
        self, raw: bytes, now: float, wall: float, results_base: str
    ) -> dict[str, Any]:
        if len(raw) > MAX_ANTHROPIC_BYTES:
            raise StoreError(413, "Request exceeds the maximum allowed number of bytes.")
        try:
            body = _decode(raw)
        except msgspec.DecodeError:
            raise StoreError(400, "The request body is not valid JSON.") from None
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs:
            raise StoreError(400, "requests: Field required")
        if len(reqs) > MAX_ANTHROPIC_REQUESTS:
            raise StoreError(400, f"requests: at most {MAX_ANTHROPIC_REQUESTS} requests")
        seen: set[str] = set()
        requests: list[tuple[str, dict[str, Any]]] = []
        for i, r in enumerate(reqs):
            cid = r.get("custom_id") if isinstance(r, dict) else None
            params = r.get("params") if isinstance(r, dict) else None
            if not isinstance(cid, str) or not _ANTHROPIC_ID.fullmatch(cid):
                raise StoreError(400, f"requests.{i}.custom_id: String should match pattern")
            if cid in seen:
                raise StoreError(400, f"requests.{i}.custom_id: duplicate custom_id {cid!r}")
            if not isinstance(params, dict):
                raise StoreError(400, f"requests.{i}.params: Field required")
            seen.add(cid)
            requests.append((cid, params))
        job = _Job(
            id="msgbatch_" + self.new_id(),
            anthropic=True,
            created=now,
            created_at=int(wall),
            requests=requests,
            api="messages",
            window=self.window,
            phase=self.phase,
        )
        self.jobs[job.id] = job
        self._meta[job.id] = {"results_url": f"{results_base}/v1/messages/batches/{job.id}/results"}
        return self.message_batch_obj(job.id, now, wall)

    def message_batch_obj(self, batch_id: str, now: float, wall: float) -> dict[str, Any]:
        job = self._job(batch_id, anthropic=True)
        self._advance(job, now, wall)
        ended = job.ended is not None
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if not ended:
            counts["processing"] = len(job.requests)
        else:
            for code, _, _ in job.outcomes:
                counts["succeeded" if 200 <= code < 300 else "errored"] += 1
            rest = len(job.requests) - len(job.outcomes)
            counts["canceled" if job.end_kind == "cancelled" else "expired"] += rest
        status = "ended" if ended else ("canceling" if job.cancelled is not None else "in_progress")
        return {
            "id": job.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": _rfc3339(wall - (now - job.ended)) if job.ended is not None else None,
            "created_at": _rfc3339(job.created_at),
            "expires_at": _rfc3339(job.created_at + 86_400),
            "archived_at": None,
            "cancel_initiated_at": _rfc3339(job.cancelled_at) if job.cancelled_at else None,
            "results_url": self._meta[job.id]["results_url"] if ended else None,
        }

    def cancel_message_batch(self, batch_id: str, now: float, wall: float) -> dict[str, Any]:
        job = self._job(batch_id, anthropic=True)
        self._advance(job, now, wall)
        if job.ended is None and job.cancelled is None:
            job.cancelled, job.cancelled_at = now, int(wall)
        return self.message_batch_obj(batch_id, now, wall)

    def delete_message_batch(self, batch_id: str, now: float, wall: float) -> dict[str, Any]:
        job = self._job(batch_id, anthropic=True)
        self._advance(job, now, wall)
        if job.ended is None:
            raise StoreError(400, "Message Batch is still processing; cancel it first.")
        del self.jobs[batch_id]
        return {"id": batch_id, "type": "message_batch_deleted"}

    def list_message_batches(
        self, query: dict[str, str], now: float, wall: float
    ) -> dict[str, Any]:
        ids = [j.id for j in self.jobs.values() if j.anthropic][::-1]
        items = [self.message_batch_obj(i, now, wall) for i in ids]
        return _page(items, query, "after_id", openai=False)

    def message_batch_results(self, batch_id: str, now: float, wall: float) -> bytes:
        job = self._job(batch_id, anthropic=True)
        self._advance(job, now, wall)
        if job.ended is None or job.results is None:
            raise StoreError(400, f"Message Batch {batch_id} has not yet ended processing.")
        return job.results

    # -- the lifecycle ------------------------------------------------------------------------

    def _job(self, batch_id: str, *, anthropic: bool) -> _Job:
        job = self.jobs.get(batch_id)
        if job is None or job.anthropic != anthropic:
            what = "message batch" if anthropic else "Batch"
            raise StoreError(404, f"No such {what} object: {batch_id}")
        return job

    def _advance(self, job: _Job, now: float, wall: float) -> None:
        """Answer the requests whose turn has come; end the job when its time is up."""
        if job.ended is not None or job.failed:
            return
        stop = now
        end_kind = ""
        if job.cancelled is not None:
            stop = min(stop, job.cancelled)
            if now >= job.cancelled + job.phase:
                end_kind = "cancelled"
        if job.created + job.window < job.run_end() and now >= job.created + job.window:
            stop = min(stop, job.created + job.window)
            end_kind = end_kind or "expired"
        due = job.due(stop)
        while len(job.outcomes) < due:
            cid, body = job.requests[len(job.outcomes)]
            job.outcomes.append(self.answer(job.api, body, job.anthropic))
        if not end_kind and now >= job.run_end() + (0.0 if job.anthropic else job.phase):
            end_kind = "completed"
        if end_kind:
            job.ended, job.end_kind = now, end_kind
            self._write_results(job, wall)

    def _write_results(self, job: _Job, wall: float) -> None:
        if job.anthropic:
            lines = []
            for (cid, _), (status, body, _rid) in zip(job.requests, job.outcomes, strict=False):
                if 200 <= status < 300:
                    result = {"type": "succeeded", "message": msgspec.Raw(body)}
                else:
                    result = {"type": "errored", "error": msgspec.Raw(body)}
                lines.append(_encode({"custom_id": cid, "result": result}))
            rest = "canceled" if job.end_kind == "cancelled" else "expired"
            for cid, _ in job.requests[len(job.outcomes) :]:
                lines.append(_encode({"custom_id": cid, "result": {"type": rest}}))
            job.results = b"".join(line + b"\n" for line in lines)
            return
        out: list[bytes] = []
        err: list[bytes] = []
        for (cid, _), (status, body, rid) in zip(job.requests, job.outcomes, strict=False):
            line = _encode(
                {
                    "id": "batch_req_" + self.new_id(),
                    "custom_id": cid,
                    "response": {
                        "status_code": status,
                        "request_id": rid,
                        "body": msgspec.Raw(body),
                    },
                    "error": None,
                }
            )
            (out if 200 <= status < 300 else err).append(line + b"\n")
        code = "batch_cancelled" if job.end_kind == "cancelled" else "batch_expired"
        message = (
            "This request was not executed because the batch was cancelled."
            if code == "batch_cancelled"
            else "This request could not be executed before the completion window expired."
        )
        for cid, _ in job.requests[len(job.outcomes) :]:
            line = _encode(
                {
                    "id": "batch_req_" + self.new_id(),
                    "custom_id": cid,
                    "response": None,
                    "error": {"code": code, "message": message},
                }
            )
            err.append(line + b"\n")
        if out:
            job.output_file_id = self._output(b"".join(out), job.id, "output", wall)
        if err:
            job.error_file_id = self._output(b"".join(err), job.id, "error", wall)

    def _output(self, data: bytes, batch_id: str, kind: str, wall: float) -> str:
        f = _File(
            "file-" + self.new_id(), f"{batch_id}_{kind}.jsonl", "batch_output", data, int(wall)
        )
        self.files[f.id] = f
        return f.id


def _parse_input(
    data: bytes, endpoint: str
) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """An OpenAI batch input file -> requests, or the validation errors that fail the batch."""
    requests: list[tuple[str, dict[str, Any]]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()

    def fail(code: str, message: str, line: int | None) -> None:
        if len(errors) < 100:
            errors.append({"code": code, "message": message, "param": None, "line": line})

    for n, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = _decode(raw)
        except msgspec.DecodeError:
            fail("invalid_json_line", "This line is not parseable as valid JSON.", n)
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("body"), dict):
            fail("invalid_request", "Each line must have a 'body' object.", n)
            continue
        cid = obj.get("custom_id")
        if not isinstance(cid, str) or not cid:
            fail("missing_required_parameter", "Missing required parameter: 'custom_id'.", n)
            continue
        if obj.get("method") != "POST":
            fail("invalid_method", "Only POST is supported.", n)
            continue
        if obj.get("url") != endpoint:
            fail("url_mismatch", f"The url must match the batch endpoint {endpoint}.", n)
            continue
        if cid in seen:
            fail("duplicate_custom_id", f"The custom_id {cid!r} is not unique.", n)
            continue
        seen.add(cid)
        requests.append((cid, obj["body"]))
    if not requests and not errors:
        fail("empty_file", "The input file is empty.", None)
    if len(requests) > MAX_OPENAI_REQUESTS:
        fail("too_many_tasks", f"A batch may hold at most {MAX_OPENAI_REQUESTS} requests.", None)
    return requests, errors


def _page(
    items: list[dict[str, Any]], query: dict[str, str], cursor: str, *, openai: bool
) -> dict[str, Any]:
    after = query.get(cursor)
    if after:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    try:
        limit = max(1, min(int(query.get("limit", "20")), 1000 if not openai else 10_000))
    except ValueError:
        raise StoreError(400, "limit must be an integer") from None
    page = items[:limit]
    out: dict[str, Any] = {
        "data": page,
        "has_more": len(items) > limit,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
    if openai:
        out["object"] = "list"
    return out


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
