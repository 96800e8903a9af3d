"""Typed results of the providers' Batch APIs: OpenAI files and batches, Anthropic message batches.

Field names and shapes follow the official OpenAPI spec (``File``,
``Batch``, ``ListBatchesResponse``, ``ListFilesResponse``,
``DeleteFileResponse``) and Anthropic's Message Batches reference
(``MessageBatch``, the ``.jsonl`` results lines).  As everywhere in
rawllm, unknown fields are ignored on the fast path and kept by
``to_dict()``, and a missing optional field is ``None``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ._base import BaseModel, Result
from .anthropic import Message

__all__ = [
    "Batch",
    "BatchError",
    "BatchErrors",
    "BatchList",
    "BatchRequestCounts",
    "BatchUsage",
    "DeletedMessageBatch",
    "FileDeleted",
    "FileList",
    "FileObject",
    "MessageBatch",
    "MessageBatchIndividualResponse",
    "MessageBatchList",
    "MessageBatchRequestCounts",
    "MessageBatchResult",
]


# -- OpenAI files -----------------------------------------------------------------


class FileObject(Result, kw_only=True):
    """An uploaded file (``POST /files``, ``GET /files/{id}``).

    Example:
        >>> f = await client.files.create(file="requests.jsonl", purpose="batch")
        >>> f.id, f.bytes
    """

    id: str
    bytes: int | None = None
    created_at: int | None = None
    filename: str | None = None
    object: str | None = None
    purpose: str | None = None
    status: str | None = None
    expires_at: int | None = None
    status_details: str | None = None


class FileDeleted(Result, kw_only=True):
    """The answer of ``DELETE /files/{id}``."""

    id: str
    deleted: bool
    object: str | None = None


class FileList(Result, kw_only=True):
    """One page of ``GET /files``: ``.data`` is the list of files."""

    data: list[FileObject]
    object: str | None = None
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool | None = None

    def __iter__(self) -> Iterator[FileObject]:
        return iter(self.data)


# -- OpenAI batches -----------------------------------------------------------------


class BatchRequestCounts(BaseModel, kw_only=True):
    """Requests of a batch per outcome so far."""

    total: int = 0
    completed: int = 0
    failed: int = 0


class BatchError(BaseModel, kw_only=True):
    """One reason a batch failed validation (``errors.data[i]``)."""

    code: str | None = None
    message: str | None = None
    param: str | None = None
    line: int | None = None


class BatchErrors(BaseModel, kw_only=True):
    """``Batch.errors``: why the batch failed (validation errors of the input file)."""

    data: list[BatchError] | None = None
    object: str | None = None


class BatchUsage(BaseModel, kw_only=True):
    """Token usage of a batch (only on batches created after September 2025)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens_details: dict[str, Any] | None = None
    output_tokens_details: dict[str, Any] | None = None


class Batch(Result, kw_only=True):
    """An OpenAI batch (``POST /batches``, ``GET /batches/{id}``).

    ``status`` is one of ``validating``, ``failed``, ``in_progress``,
    ``finalizing``, ``completed``, ``expired``, ``cancelling``, ``cancelled``.

    Example:
        >>> b = await client.batches.retrieve("batch_abc")
        >>> b.status, b.request_counts.completed, b.output_file_id
    """

    id: str
    object: str | None = None
    endpoint: str | None = None
    input_file_id: str | None = None
    completion_window: str | None = None
    status: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: int | None = None
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    request_counts: BatchRequestCounts | None = None
    errors: BatchErrors | None = None
    metadata: dict[str, str] | None = None
    model: str | None = None
    usage: BatchUsage | None = None


class BatchList(Result, kw_only=True):
    """One page of ``GET /batches``: ``.data`` is the list of batches."""

    data: list[Batch]
    object: str | None = None
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool | None = None

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.data)


# -- Anthropic message batches --------------------------------------------------------


class MessageBatchRequestCounts(BaseModel, kw_only=True):
    """Requests of a message batch per state (all but ``processing`` stay 0 until it ends)."""

    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0


class MessageBatch(Result, kw_only=True):
    """An Anthropic message batch (``POST /v1/messages/batches``, ``GET .../{id}``).

    ``processing_status`` is ``in_progress``, ``canceling`` or ``ended``;
    ``results_url`` is set once it has ended.

    Example:
        >>> mb = await client.messages.batches.retrieve("msgbatch_abc")
        >>> mb.processing_status, mb.request_counts.succeeded
    """

    id: str
    type: str | None = None
    processing_status: str
    request_counts: MessageBatchRequestCounts
    created_at: datetime | None = None
    expires_at: datetime | None = None
    ended_at: datetime | None = None
    cancel_initiated_at: datetime | None = None
    archived_at: datetime | None = None
    results_url: str | None = None


class DeletedMessageBatch(Result, kw_only=True):
    """The answer of ``DELETE /v1/messages/batches/{id}``."""

    id: str
    type: str | None = None


class MessageBatchList(Result, kw_only=True):
    """One page of ``GET /v1/messages/batches``."""

    data: list[MessageBatch]
    has_more: bool | None = None
    first_id: str | None = None
    last_id: str | None = None

    def __iter__(self) -> Iterator[MessageBatch]:
        return iter(self.data)


class MessageBatchResult(BaseModel, kw_only=True):
    """The outcome of one request: ``type`` is ``succeeded`` (``.message``),
    ``errored`` (``.error``: the error response as sent), ``canceled`` or
    ``expired``.  A type this version does not know is kept as given."""

    type: str
    message: Message | None = None
    error: dict[str, Any] | None = None


class MessageBatchIndividualResponse(Result, kw_only=True):
    """One line of a message batch's results (``custom_id`` + ``result``)."""

    custom_id: str
    result: MessageBatchResult
