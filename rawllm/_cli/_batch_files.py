"""Files of ``rawllm batch`` shared by online and Batch API runs: the output (resume scan,
append-only writer) and the input count."""

from __future__ import annotations

import os

from .._batch_api import in_shard, provider_mismatch
from .._batch_io import InputError, ResumeScan, parse_line
from ._common import UsageError

__all__ = ["Writer", "count_input", "prepare_output", "resume_note"]


def prepare_output(path: str, keep_failed: bool) -> ResumeScan:
    """Scan an existing output for resume; truncate or rewrite it to the kept lines."""
    scan = ResumeScan(keep_failed=keep_failed)
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return scan
    with f:
        for raw in f:
            scan.add(raw)
    if scan.needs_rewrite:
        tmp = f"{path}.rawllm-tmp"
        again = ResumeScan(keep_failed=keep_failed)
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            for raw in src:
                if again.add(raw):
                    dst.write(raw)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, path)
    elif scan.partial_tail:
        with open(path, "r+b") as f2:
            f2.truncate(scan.kept_bytes)
    return scan


def count_input(
    path: str, provider: str, endpoint: str | None, shard: tuple[int, int] | None = None
) -> int:
    """Requests in the input (non-blank lines in the shard), checking first that the
    provider can run them: a wrong ``--provider`` is one usage error, not one failed
    line per prompt.  Malformed lines are counted and left to the run to report.

    Raises:
        UsageError: a line needs the other provider.
    """
    default = endpoint or ("messages" if provider == "anthropic" else "chat.completions")
    n = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                req = parse_line(raw, number)
            except InputError:
                n += 1
                continue
            if req is None or (shard is not None and not in_shard(req.custom_id, *shard)):
                continue
            n += 1
            problem = provider_mismatch(req, provider, default)
            if problem is not None:
                raise UsageError(f"{path}: {problem}")
    return n


class Writer:
    """Append complete lines to the output with one ``os.write`` each (no user-space buffer)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, line: bytes) -> None:
        view = memoryview(line)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def close(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError:
            pass
        os.close(self.fd)


def resume_note(scan: ResumeScan, output: str) -> str:
    note = f"rawllm batch: resuming: {scan.kept} answers kept in {output}"
    if scan.dropped_failed:
        note += f", {scan.dropped_failed} failed ones to run again"
    bad = scan.dropped_invalid + scan.dropped_duplicate
    if bad:
        note += f", {bad} invalid or duplicate lines dropped"
    if scan.partial_tail:
        note += ", a half-written last line dropped"
    return note
