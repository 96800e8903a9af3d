"""``rawllm batch --via batch-api``: the same JSONL through the provider's Batch API.

Steps: validate and split the input into parts within the provider's limits
(each part a local JSONL file), upload (OpenAI) and create the batches, poll
them, download the output and error files (or Anthropic's results) as
streams, and append exactly the lines an online run writes.

Guarantees:
- the state (part files, file ids, batch ids, statuses) lives in
  ``OUTPUT.rawllm-batch/`` and is saved after every step that creates
  something at the provider, so a rerun after Ctrl-C, a crash or ``kill -9``
  resumes polling instead of submitting again;
- a part's results are written at most once per custom_id: a rerun after a
  crash mid-download drops the half-written line (as online resume does)
  and skips the ids already answered;
- when every part is written the state directory is removed; a rerun then
  works like an online rerun: answered ids are skipped, failed ones are
  submitted again in a new batch.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import time
from typing import TYPE_CHECKING, Any

import msgspec

from .._batch_api import (
    LIMITS,
    TERMINAL_OPENAI,
    BatchState,
    Part,
    Splitter,
    batch_input_line,
    convert_anthropic_result,
    convert_openai_line,
    decode_state,
    encode_state,
    in_shard,
)
from .._batch_api import (
    UsageError as InputUsageError,
)
from .._batch_io import InputError, Tally, parse_line, summary_json, summary_text
from .._exceptions import APIError
from ._batch_files import Writer, prepare_output, resume_note
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, err, make_client

if TYPE_CHECKING:
    from .._client import BaseClient

__all__ = ["run_batch_api", "state_dir_for"]

DEFAULT_ENDPOINT = {"openai": "chat.completions", "anthropic": "messages"}


def state_dir_for(output: str) -> str:
    """Where a run keeps its state: beside the output."""
    return output + ".rawllm-batch"


class _Store:
    """The state file, written atomically (temp file + rename) after each change."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.path = os.path.join(directory, "state.json")

    def load(self) -> BatchState | None:
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        try:
            return decode_state(raw)
        except ValueError as exc:
            raise UsageError(f"{self.path}: {exc} (delete {self.dir} to start over)") from None

    def save(self, state: BatchState) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(encode_state(state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def _plan(
    args: argparse.Namespace, done: set[str], tally: Tally, directory: str, shard: Any
) -> BatchState:
    """Split the requests still to run into part files; count skipped and malformed lines."""
    provider = args.provider
    default = args.endpoint or DEFAULT_ENDPOINT[provider]
    limits = LIMITS[provider]
    anthropic = provider == "anthropic"
    os.makedirs(directory, exist_ok=True)
    state = BatchState(provider=provider, input=args.input, input_size=os.path.getsize(args.input))
    # One open part per endpoint (an OpenAI batch runs one endpoint).
    open_parts: dict[str, tuple[Part, Splitter, Any]] = {}
    seen: set[str] = set()
    total = 0
    try:
        with open(args.input, "rb") as f:
            for n, raw in enumerate(f, 1):
                line = _plan_line(args, raw, n, shard, done, seen, tally, default)
                if line is None:
                    continue
                total += 1
                if not line:  # skipped or malformed (counted)
                    continue
                endpoint, data = line
                current = open_parts.get(endpoint)
                if current is None:
                    splitter = (
                        Splitter(limits, overhead=1, fixed=15) if anthropic else Splitter(limits)
                    )
                else:
                    splitter = current[1]
                # Anthropic: the size counted is the request object in the JSON array.
                if splitter.add(len(data) - 1 if anthropic else len(data)) or current is None:
                    if current is not None:
                        current[2].close()
                    index = len(state.parts)
                    path = os.path.join(directory, f"part-{index:04d}.jsonl")
                    part = Part(index=index, path=path, endpoint=endpoint, requests=0, bytes=0)
                    state.parts.append(part)
                    current = (part, splitter, open(path, "wb"))  # noqa: SIM115 (closed below)
                    open_parts[endpoint] = current
                part, _, fh = current
                fh.write(data)
                part.requests += 1
                part.bytes += len(data)
    except InputError as exc:  # one request over the byte limit
        raise UsageError(f"{args.input}: {exc}") from None
    finally:
        for _, _, fh in open_parts.values():
            fh.close()
    tally.total = total
    return state


def _plan_line(
    args: argparse.Namespace,
    raw: bytes,
    n: int,
    shard: tuple[int, int] | None,
    done: set[str],
    seen: set[str],
    tally: Tally,
    default: str,
) -> tuple[str, bytes] | tuple[()] | None:
    """One input line -> ``(endpoint, part file line)``; ``()`` when skipped or
    malformed (and counted); None when blank or in another shard."""
    try:
        req = parse_line(raw, n)
        if req is None or (shard is not None and not in_shard(req.custom_id, *shard)):
            return None
        if req.custom_id in done:
            tally.skipped += 1
            return ()
        if req.custom_id in seen:
            raise InputError(f"duplicate custom_id {req.custom_id!r}", n)
        if args.model is not None:
            req.body["model"] = args.model
        endpoint, line = batch_input_line(req, args.provider, default)
    except InputError as exc:
        tally.add_malformed(exc.line or n, exc.reason)
        err(f"rawllm batch: {args.input}:{n}: skipped: {exc.reason}")
        return ()
    except InputUsageError as exc:
        raise UsageError(str(exc)) from None
    seen.add(req.custom_id)
    return endpoint, line if line.endswith(b"\n") else line + b"\n"


class _Id(msgspec.Struct):
    custom_id: str


_id_decoder = msgspec.json.Decoder(_Id)


def _part_ids(part: Part) -> list[str]:
    with open(part.path, "rb") as f:
        return [_id_decoder.decode(line).custom_id for line in f if line.strip()]


async def _submit(client: Any, part: Part, state: BatchState, store: _Store) -> None:
    """Upload (OpenAI) and create the batch of one part; the state is saved after each step."""
    if state.provider == "anthropic":
        if part.submitted_at is not None:
            # A crash while creating: Message Batches have no metadata to find ours by,
            # so adopt the one batch created since then with exactly this many requests.
            page = await client.messages.batches.list(limit=100)
            found = [
                b
                for b in page.data
                if b.created_at is not None
                and b.created_at.timestamp() >= part.submitted_at - 5
                and sum(msgspec.structs.asdict(b.request_counts).values()) == part.requests
            ]
            if len(found) == 1:
                part.batch_id, part.status = found[0].id, found[0].processing_status
                store.save(state)
                return
        with open(part.path, "rb") as f:
            items = [line.rstrip(b"\n") for line in f if line.strip()]
        body = b'{"requests":[' + b",".join(items) + b"]}"
        part.submitted_at = time.time()
        store.save(state)
        mb = await client.messages.batches.create_raw(body)
        part.batch_id, part.status = mb.id, mb.processing_status
        store.save(state)
        return
    if part.file_id is None:
        with open(part.path, "rb") as f:
            data = f.read()
        name = os.path.basename(part.path)
        up = await client.files.create(file=(name, data, "application/jsonl"), purpose="batch")
        part.file_id = up.id
        store.save(state)
    if part.batch_id is None:
        # A crash between "create" and saving its id: adopt the batch made from our file.
        page = await client.batches.list(limit=100)
        for b in page.data:
            if b.input_file_id == part.file_id:
                part.batch_id, part.status = b.id, b.status
                store.save(state)
                return
        b = await client.batches.create(
            input_file_id=part.file_id,
            endpoint="/v1/" + part.endpoint.replace(".", "/"),
            completion_window="24h",
            metadata={"rawllm_part": str(part.index)},
        )
        part.batch_id, part.status = b.id, b.status
        store.save(state)


def _counts_openai(b: Any) -> dict[str, int]:
    rc = b.request_counts
    if rc is None:
        return {}
    return {"total": rc.total, "completed": rc.completed, "failed": rc.failed}


def _counts_anthropic(mb: Any) -> dict[str, int]:
    c = mb.request_counts
    return {
        "completed": c.succeeded,
        "failed": c.errored + c.canceled + c.expired,
        "processing": c.processing,
    }


class _Downloader:
    """Write a finished part's results to the output, at most once per custom_id."""

    def __init__(self, writer: Writer, done: set[str], tally: Tally) -> None:
        self.writer = writer
        self.done = done
        self.tally = tally
        self.seq = 0

    def take(self, converted: tuple[str, bytes, bool] | None, ids: set[str]) -> None:
        if converted is None:
            return
        cid, line, ok = converted
        if cid in self.done or cid not in ids:
            return
        self.done.add(cid)
        self.writer.write(line)
        if ok:
            self.tally.succeeded += 1
            usage = _usage_of(line)
            if usage is not None:
                self.tally.prompt_tokens += usage.prompt_tokens or usage.input_tokens or 0
                self.tally.completion_tokens += usage.completion_tokens or usage.output_tokens or 0
        else:
            self.tally.add_error(_code_of(line))

    async def part(self, client: Any, state: BatchState, part: Part, info: Any) -> None:
        ids = set(_part_ids(part)) - self.done
        if state.provider == "anthropic":
            prefix = "batch_req_" + (part.batch_id or "").removeprefix("msgbatch_")[-12:]
            async for raw in client.messages.batches.results(part.batch_id).raw_lines():
                self.seq += 1
                self.take(convert_anthropic_result(raw, f"{prefix}{self.seq:08x}"), ids)
            return
        for file_id in (info.output_file_id, info.error_file_id):
            if not file_id:
                continue
            async with await client.files.content(file_id) as body:
                async for raw in body.iter_lines():
                    self.take(convert_openai_line(raw), ids)


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class _UsageBody(msgspec.Struct):
    usage: _Usage | None = None


class _UsageResponse(msgspec.Struct):
    body: _UsageBody | None = None


class _UsageLine(msgspec.Struct):
    response: _UsageResponse | None = None


_usage_line = msgspec.json.Decoder(_UsageLine)


def _usage_of(line: bytes) -> _Usage | None:
    try:
        resp = _usage_line.decode(line).response
    except msgspec.DecodeError:  # a usage of an unexpected shape: not counted
        return None
    return resp.body.usage if resp is not None and resp.body is not None else None


def _code_of(line: bytes) -> str:
    obj = msgspec.json.decode(line)
    resp = obj.get("response")
    if isinstance(resp, dict) and isinstance(resp.get("status_code"), int):
        return str(resp["status_code"])
    error = obj.get("error")
    return str(error.get("code")) if isinstance(error, dict) else "batch_error"


async def run_batch_api(args: argparse.Namespace, base_url: str | None, shard: Any) -> int:
    """The whole ``--via batch-api`` run; returns the exit status."""
    from ._progress import batch_progress_for

    tally = Tally()
    directory = state_dir_for(args.output)
    store = _Store(directory)
    state = store.load()
    if state is not None and (state.provider != args.provider or state.input != args.input):
        raise UsageError(
            f"{directory} holds a run of {state.input} with --provider {state.provider}: "
            "rerun that command to resume it, or delete the directory"
        )
    try:
        scan = prepare_output(args.output, args.keep_failed)
    except OSError as exc:
        raise UsageError(str(exc)) from None
    if scan.kept or scan.needs_rewrite or scan.partial_tail:
        err(resume_note(scan, args.output))
    done = set(scan.done)
    resumed = state is not None and bool(state.pending())
    if resumed:
        assert state is not None
        # This run answers the pending parts; ids of theirs already in the output
        # (written before a crash mid-download) count as done, as in an online resume.
        pending = state.pending()
        tally.total = sum(p.requests for p in pending)
        tally.skipped = sum(cid in done for p in pending for cid in _part_ids(p))
        noun = "batch" if len(pending) == 1 else "batches"
        err(f"rawllm batch: resuming {len(pending)} {noun} from {store.path}")
    else:
        state = _plan(args, done, tally, directory, shard)
        if not state.parts:
            shutil.rmtree(directory, ignore_errors=True)
            err(summary_text(tally, 0.0, interrupted=False))
            return EXIT_FAILED if tally.failed_total else EXIT_OK
        store.save(state)
        sizes = ", ".join(f"{p.requests} requests" for p in state.parts)
        noun = "batch" if len(state.parts) == 1 else "batches"
        err(f"rawllm batch: {len(state.parts)} {noun} to submit ({sizes})")

    client = make_client(args, base_url=base_url)
    started = time.monotonic()
    progress = batch_progress_for(args, state.parts, started)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    writer = Writer(args.output)
    downloader = _Downloader(writer, done, tally)
    interrupted = api_error = False
    failures: list[str] = []
    progress.start()
    try:
        async with client:
            run = asyncio.ensure_future(
                _drive(client, state, store, downloader, progress, args.poll_interval, failures)
            )
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait({run, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not run.done():
                interrupted = True
                run.cancel()
                await asyncio.gather(run, return_exceptions=True)
                if args.cancel:
                    await _cancel_all(client, state, store, progress)
                else:
                    progress.log(
                        "rawllm batch: stopped polling; the batches keep running at the "
                        "provider (rerun the same command to resume, or add --cancel)"
                    )
            waiter.cancel()
            failure = run.exception() if run.done() and not run.cancelled() else None
            if isinstance(failure, APIError):
                # The provider refused a step (a 401, a 400 on create...): the state is
                # kept, so a rerun picks up from here once the cause is fixed.
                progress.log(f"rawllm batch: {type(failure).__name__}: {failure}")
                api_error = True
            elif failure is not None:
                raise failure
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        writer.close()
        await progress.stop()
    for text in failures:
        err(text)
    if not state.pending():
        shutil.rmtree(directory, ignore_errors=True)
    elapsed = time.monotonic() - started
    err(summary_text(tally, elapsed, interrupted=interrupted))
    if args.summary_json:
        with open(args.summary_json, "wb") as f:
            f.write(
                summary_json(
                    tally, elapsed, interrupted=interrupted, input=args.input,
                    output=args.output, provider=args.provider, via="batch-api",
                    batches=[p.batch_id for p in state.parts],
                )
            )  # fmt: skip
    if api_error:
        return EXIT_FAILED
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if tally.failed_total or failures or tally.remaining else EXIT_OK


async def _drive(
    client: BaseClient,
    state: BatchState,
    store: _Store,
    downloader: _Downloader,
    progress: Any,
    interval: float,
    failures: list[str],
) -> None:
    c: Any = client
    for part in state.pending():
        if part.batch_id is None:
            await _submit(c, part, state, store)
            progress.update()
    anthropic = state.provider == "anthropic"
    while state.pending():
        for part in state.pending():
            if anthropic:
                info = await c.messages.batches.retrieve(part.batch_id)
                status, counts = info.processing_status, _counts_anthropic(info)
                ended = status == "ended"
            else:
                info = await c.batches.retrieve(part.batch_id)
                status, counts = info.status, _counts_openai(info)
                ended = status in TERMINAL_OPENAI
            changed = status != part.status or counts != part.counts
            part.status, part.counts = status, counts
            if ended:
                if status == "failed":
                    errs = (info.errors.data or []) if info.errors is not None else []
                    detail = (
                        "; ".join(f"line {e.line}: {e.code}: {e.message}" for e in errs[:5])
                        or "no detail"
                    )
                    failures.append(f"rawllm batch: batch {part.batch_id} failed: {detail}")
                else:
                    await downloader.part(c, state, part, info)
                part.written = True
                changed = True
            if changed:
                store.save(state)
                progress.update()
        if state.pending():
            await asyncio.sleep(interval)


async def _cancel_all(client: Any, state: BatchState, store: _Store, progress: Any) -> None:
    for part in state.pending():
        if part.batch_id is None:
            continue
        try:
            if state.provider == "anthropic":
                info = await client.messages.batches.cancel(part.batch_id)
                part.status = info.processing_status
            else:
                info = await client.batches.cancel(part.batch_id)
                part.status = info.status
        except APIError as exc:
            progress.log(f"rawllm batch: cancelling {part.batch_id}: {exc}")
            continue
        progress.log(f"rawllm batch: cancelling {part.batch_id} ({part.status})")
    store.save(state)
    progress.log("rawllm batch: rerun the same command to collect what finished before the cancel")
