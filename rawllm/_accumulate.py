"""Fold streamed ``ChatCompletionChunk``s into the ``ChatCompletion`` they add up to.

Spec followed: OpenAI's streaming chat completions (each chunk carries deltas
per choice ``index``; a tool call's first delta carries its ``id``, ``type``
and function ``name``, later ones carry pieces of ``arguments``), plus what
other servers actually send:

- tool-call deltas without ``index`` (older Ollama, some Gemini-compatible
  proxies): a delta with a new ``id`` starts a call, one without an ``id``
  continues the last call;
- a reused ``index`` with a different ``id`` (servers that number every call
  0) starts a new call;
- a tool call's ``id`` or function ``name`` repeated in every delta is not
  doubled;
- chunks with empty ``choices`` (Azure's prompt-filter chunk, the usage chunk),
  choices without ``delta``, ``reasoning_content`` / ``reasoning`` deltas.

Invariants: pure (no IO, no clock); the work per chunk is a few attribute
reads and list appends; strings are joined once, in ``result()``.
``result()`` may be called at any time and does not change the state.
"""

from __future__ import annotations

from typing import Any

from .types.openai import (
    Annotation,
    ChatCompletion,
    ChatCompletionAudio,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    ChatCompletionTokenLogprob,
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceLogprobs,
    CompletionUsage,
    Function,
    FunctionCall,
)

__all__ = ["ChatCompletionAccumulator", "chunk_text"]


def chunk_text(chunk: ChatCompletionChunk) -> str | None:
    """The text a chunk adds to the first choice, or None when it adds none.

    Args:
        chunk: a decoded stream chunk.

    Returns:
        ``chunk.choices[0].delta.content`` when it is a non-empty string, else None.

    Example:
        >>> chunk_text(chunk)
        'Hel'
    """
    choices = chunk.choices
    if choices:
        text = choices[0].delta.content
        if text:
            return text
    return None


class _ToolCall:
    __slots__ = ("id", "type", "name", "args", "extra")

    def __init__(self, call_id: str | None, call_type: str | None) -> None:
        self.id = call_id
        self.type = call_type
        self.name: list[str] = []
        self.args: list[str] = []
        self.extra: dict[str, Any] | None = None

    def build(self) -> ChatCompletionMessageToolCall:
        return ChatCompletionMessageToolCall(
            id=self.id,
            type=self.type or "function",
            function=Function(name="".join(self.name), arguments="".join(self.args)),
            extra_content=self.extra,
        )


class _Choice:
    __slots__ = (
        "index",
        "role",
        "content",
        "refusal",
        "reasoning_content",
        "reasoning",
        "reasoning_details",
        "calls",
        "calls_by_index",
        "fc_name",
        "fc_args",
        "annotations",
        "audio",
        "lp_content",
        "lp_refusal",
        "finish_reason",
        "content_filter_results",
        "stop_reason",
        "native_finish_reason",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.reasoning_content: list[str] = []
        self.reasoning: list[str] = []
        self.reasoning_details: list[dict[str, Any]] | None = None
        self.calls: list[_ToolCall] = []
        self.calls_by_index: dict[int, _ToolCall] = {}
        self.fc_name: list[str] | None = None
        self.fc_args: list[str] = []
        self.annotations: list[Annotation] | None = None
        self.audio: dict[str, Any] | None = None
        self.lp_content: list[ChatCompletionTokenLogprob] | None = None
        self.lp_refusal: list[ChatCompletionTokenLogprob] | None = None
        self.finish_reason: str | None = None
        self.content_filter_results: dict[str, Any] | None = None
        self.stop_reason: str | int | None = None
        self.native_finish_reason: str | None = None

    def add_tool_calls(self, deltas: list[ChoiceDeltaToolCall]) -> None:
        for tc in deltas:
            index = tc.index
            call_id = tc.id or None
            call: _ToolCall | None
            if index is not None:
                call = self.calls_by_index.get(index)
                if call is None or (call_id is not None and call.id and call.id != call_id):
                    call = _ToolCall(call_id, tc.type)
                    self.calls.append(call)
                    self.calls_by_index[index] = call
            else:
                call = self.calls[-1] if self.calls else None
                if call is None or (call_id is not None and call.id != call_id):
                    call = _ToolCall(call_id, tc.type)
                    self.calls.append(call)
            if call_id is not None and call.id is None:
                call.id = call_id
            if tc.type and call.type is None:
                call.type = tc.type
            if tc.extra_content is not None:
                call.extra = tc.extra_content
            fn = tc.function
            if fn is not None:
                name = fn.name
                # Some servers resend the whole name with every delta: keep it once.
                if name and not (len(call.name) == 1 and call.name[0] == name):
                    call.name.append(name)
                if fn.arguments:
                    call.args.append(fn.arguments)

    def add_delta(self, delta: ChoiceDelta) -> None:
        # Ordered by how often a field is set in real streams; each test is one attribute read.
        if delta.content is not None:
            self.content.append(delta.content)
        if delta.tool_calls:
            self.add_tool_calls(delta.tool_calls)
        if delta.reasoning_content is not None:
            self.reasoning_content.append(delta.reasoning_content)
        if delta.reasoning is not None:
            self.reasoning.append(delta.reasoning)
        if delta.role is not None:
            self.role = delta.role
        if delta.refusal is not None:
            self.refusal.append(delta.refusal)
        if delta.reasoning_details:
            if self.reasoning_details is None:
                self.reasoning_details = []
            _merge_details(self.reasoning_details, delta.reasoning_details)
        if delta.annotations:
            if self.annotations is None:
                self.annotations = []
            self.annotations.extend(delta.annotations)
        fc = delta.function_call
        if fc is not None:
            if self.fc_name is None:
                self.fc_name = []
            if fc.name:
                self.fc_name.append(fc.name)
            if fc.arguments:
                self.fc_args.append(fc.arguments)
        audio = delta.audio
        if audio is not None:
            self.add_audio(audio.id, audio.data, audio.transcript, audio.expires_at)

    def add_audio(
        self, audio_id: str | None, data: str | None, transcript: str | None, expires: int | None
    ) -> None:
        acc = self.audio
        if acc is None:
            acc = self.audio = {"id": None, "data": [], "transcript": [], "expires_at": None}
        if audio_id:
            acc["id"] = audio_id
        if data:
            acc["data"].append(data)
        if transcript:
            acc["transcript"].append(transcript)
        if expires is not None:
            acc["expires_at"] = expires

    def build(self) -> Choice:
        calls = [c.build() for c in self.calls] or None
        function_call = None
        if self.fc_name is not None:
            function_call = FunctionCall(
                name="".join(self.fc_name), arguments="".join(self.fc_args)
            )
        audio = None
        if self.audio is not None:
            a = self.audio
            audio = ChatCompletionAudio(
                id=a["id"],
                data="".join(a["data"]),
                transcript="".join(a["transcript"]),
                expires_at=a["expires_at"],
            )
        message = ChatCompletionMessage(
            role=self.role or "assistant",
            content=_joined(self.content),
            refusal=_joined(self.refusal),
            tool_calls=calls,
            function_call=function_call,
            annotations=self.annotations,
            audio=audio,
            reasoning_content=_joined(self.reasoning_content),
            reasoning=_joined(self.reasoning),
            reasoning_details=self.reasoning_details,
        )
        logprobs = None
        if self.lp_content is not None or self.lp_refusal is not None:
            logprobs = ChoiceLogprobs(content=self.lp_content, refusal=self.lp_refusal)
        return Choice(
            message=message,
            index=self.index,
            finish_reason=self.finish_reason,
            logprobs=logprobs,
            content_filter_results=self.content_filter_results,
            stop_reason=self.stop_reason,
            native_finish_reason=self.native_finish_reason,
        )


_DETAIL_TEXT = ("text", "summary", "data")


def _merge_details(into: list[dict[str, Any]], pieces: list[dict[str, Any]]) -> None:
    """Fold streamed ``reasoning_details`` pieces (OpenRouter) into whole details.

    Pieces with the same ``index`` (and type) are one detail, as the
    non-streamed message shows it: their ``text`` / ``summary`` / ``data``
    strings are joined, other fields keep the first value sent (a
    ``signature`` arriving later fills in).  Pieces without an index are kept
    as they come.
    """
    for piece in pieces:
        index = piece.get("index")
        last = into[-1] if into else None
        if (
            index is None
            or last is None
            or last.get("index") != index
            or last.get("type") != piece.get("type")
        ):
            into.append(dict(piece))
            continue
        for key, value in piece.items():
            old = last.get(key)
            if key in _DETAIL_TEXT and isinstance(value, str) and isinstance(old, str):
                last[key] = old + value
            elif old is None:
                last[key] = value


def _joined(parts: list[str]) -> str | None:
    """None when nothing was streamed, else the pieces joined ("" stays "")."""
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else "".join(parts)


class ChatCompletionAccumulator:
    """Builds the final ``ChatCompletion`` of a stream from its chunks.

    Example:
        >>> acc = ChatCompletionAccumulator()
        >>> for chunk in chunks:
        ...     acc.add(chunk)
        >>> acc.result().choices[0].message.tool_calls[0].function.arguments
        '{"city": "Paris"}'
    """

    __slots__ = (
        "_choices",
        "_id",
        "_model",
        "_created",
        "_fingerprint",
        "_service_tier",
        "_usage",
        "_prompt_filter_results",
    )

    def __init__(self) -> None:
        self._choices: dict[int, _Choice] = {}
        self._id: str | None = None
        self._model: str | None = None
        self._created: int | None = None
        self._fingerprint: str | None = None
        self._service_tier: str | None = None
        self._usage: CompletionUsage | None = None
        self._prompt_filter_results: list[dict[str, Any]] | None = None

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Fold one chunk in.

        Args:
            chunk: the next chunk of the stream, in order.
        """
        # Azure's first chunk has id "", model "" and created 0: keep the first real values.
        if not self._id and chunk.id:
            self._id = chunk.id
        if not self._model and chunk.model:
            self._model = chunk.model
        if not self._created and chunk.created:
            self._created = chunk.created
        if chunk.system_fingerprint is not None:
            self._fingerprint = chunk.system_fingerprint
        if chunk.service_tier is not None:
            self._service_tier = chunk.service_tier
        if chunk.usage is not None:
            self._usage = chunk.usage
        if chunk.prompt_filter_results is not None:
            self._prompt_filter_results = chunk.prompt_filter_results
        states = self._choices
        for choice in chunk.choices:
            state = states.get(choice.index)
            if state is None:
                state = states[choice.index] = _Choice(choice.index)
            state.add_delta(choice.delta)
            if choice.finish_reason is not None:
                state.finish_reason = choice.finish_reason
            lp = choice.logprobs
            if lp is not None:
                if lp.content is not None:
                    if state.lp_content is None:
                        state.lp_content = []
                    state.lp_content.extend(lp.content)
                if lp.refusal is not None:
                    if state.lp_refusal is None:
                        state.lp_refusal = []
                    state.lp_refusal.extend(lp.refusal)
            if choice.content_filter_results is not None:
                state.content_filter_results = choice.content_filter_results
            if choice.stop_reason is not None:
                state.stop_reason = choice.stop_reason
            if choice.native_finish_reason is not None:
                state.native_finish_reason = choice.native_finish_reason

    def result(self) -> ChatCompletion:
        """The ``ChatCompletion`` the chunks so far add up to.

        Returns:
            A new ``ChatCompletion`` (``object="chat.completion"``), choices in
            index order, ``usage`` from the usage chunk when one came.
        """
        return ChatCompletion(
            choices=[self._choices[i].build() for i in sorted(self._choices)],
            model=self._model or "",
            id=self._id,
            object="chat.completion",
            created=self._created,
            service_tier=self._service_tier,
            system_fingerprint=self._fingerprint,
            usage=self._usage,
            prompt_filter_results=self._prompt_filter_results,
        )
