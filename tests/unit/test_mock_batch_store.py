"""The mock's Batch API lifecycle, stepped through with a fake clock (no sockets, no sleeping)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rawllm.testing._batch_store import BatchStore, StoreError

WALL = 1_800_000_000.0


def _store(window: float = 100.0, fail_every: int = 0) -> BatchStore:
    n = {"i": 0, "answers": 0}

    def new_id() -> str:
        n["i"] += 1
        return f"{n['i']:04d}"

    def answer(api: str, body: dict[str, Any], anthropic: bool) -> tuple[int, bytes, str]:
        n["answers"] += 1
        if fail_every and n["answers"] % fail_every == 0:
            return 500, b'{"error": {"message": "boom"}}', "req"
        return 200, json.dumps({"api": api, "echo": body["x"]}).encode(), "req"

    return BatchStore(answer, new_id, phase=1.0, window=window)


def _file(store: BatchStore, n: int, url: str = "/v1/chat/completions") -> str:
    lines = [
        json.dumps({"custom_id": f"c{i}", "method": "POST", "url": url, "body": {"x": i}})
        for i in range(n)
    ]
    return str(store.add_file("in.jsonl", "batch", ("\n".join(lines) + "\n").encode(), WALL)["id"])


def _create(store: BatchStore, file_id: str, t: float = 0.0) -> str:
    body = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    return str(store.create_batch(body, t, WALL + t)["id"])


def test_openai_phases_and_files() -> None:
    store = _store(fail_every=4)
    bid = _create(store, _file(store, 8))
    seen = []
    for t in (0.5, 1.2, 1.6, 2.2, 2.9, 3.1):
        b = store.batch_obj(bid, t, WALL + t)
        seen.append((b["status"], b["request_counts"]["completed"] + b["request_counts"]["failed"]))
    assert seen == [
        ("validating", 0), ("in_progress", 1), ("in_progress", 4), ("finalizing", 8),
        ("finalizing", 8), ("completed", 8),
    ]  # fmt: skip
    b = store.batch_obj(bid, 4.0, WALL + 4)
    assert b["request_counts"] == {"total": 8, "completed": 6, "failed": 2}
    assert b["completed_at"] is not None and b["in_progress_at"] == int(WALL + 1)
    out = store.file(b["output_file_id"]).data.splitlines()
    err = store.file(b["error_file_id"]).data.splitlines()
    assert len(out) == 6 and len(err) == 2
    assert json.loads(err[0])["response"]["status_code"] == 500
    assert json.loads(out[0])["response"]["body"] == {"api": "chat", "echo": 0}


def test_openai_cancel_and_expiry() -> None:
    store = _store()
    bid = _create(store, _file(store, 10))
    assert store.cancel_batch(bid, 1.5, WALL)["status"] == "cancelling"
    b = store.batch_obj(bid, 2.6, WALL)
    assert b["status"] == "cancelled" and b["request_counts"]["completed"] == 5
    err = store.file(b["error_file_id"]).data.splitlines()
    assert [json.loads(x)["error"]["code"] for x in err] == ["batch_cancelled"] * 5
    with pytest.raises(StoreError):
        store.cancel_batch(bid, 3.0, WALL)

    short = _store(window=1.5)
    bid = _create(short, _file(short, 10))
    b = short.batch_obj(bid, 1.7, WALL)
    assert b["status"] == "expired" and b["request_counts"] == {
        "total": 10, "completed": 5, "failed": 5,
    }  # fmt: skip


def test_openai_validation_failure() -> None:
    store = _store()
    fid = str(store.add_file("in.jsonl", "batch", b'not json\n{"custom_id": "a"}\n', WALL)["id"])
    bid = _create(store, fid)
    assert store.batch_obj(bid, 0.5, WALL)["status"] == "validating"
    b = store.batch_obj(bid, 1.5, WALL)
    assert b["status"] == "failed"
    assert [(e["code"], e["line"]) for e in b["errors"]["data"]] == [
        ("invalid_json_line", 1), ("invalid_request", 2),
    ]  # fmt: skip
    with pytest.raises(StoreError, match="jsonl"):
        store.add_file("in.txt", "batch", b"x", WALL)


def test_anthropic_lifecycle_and_results() -> None:
    store = _store()
    reqs = [{"custom_id": f"a{i}", "params": {"x": i}} for i in range(4)]
    raw = json.dumps({"requests": reqs}).encode()
    mb = store.create_message_batch(raw, 0.0, WALL, "http://h")
    assert mb["processing_status"] == "in_progress" and mb["request_counts"]["processing"] == 4
    mid = store.message_batch_obj(mb["id"], 1.0, WALL + 1)
    assert mid["request_counts"]["succeeded"] == 0  # counts stay 0 until the batch ends
    end = store.message_batch_obj(mb["id"], 2.0, WALL + 2)
    assert end["processing_status"] == "ended" and end["request_counts"]["succeeded"] == 4
    assert end["results_url"] == f"http://h/v1/messages/batches/{mb['id']}/results"
    lines = store.message_batch_results(mb["id"], 2.0, WALL).splitlines()
    assert [json.loads(x)["result"]["type"] for x in lines] == ["succeeded"] * 4
    for bad in (
        {"requests": [{"custom_id": "no spaces", "params": {}}]},
        {"requests": [{"custom_id": "a", "params": {}}, {"custom_id": "a", "params": {}}]},
        {"requests": []},
    ):
        with pytest.raises(StoreError):
            store.create_message_batch(json.dumps(bad).encode(), 0.0, WALL, "http://h")
