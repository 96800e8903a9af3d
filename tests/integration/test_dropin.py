"""The surface people moving from the official SDKs use, end to end against MockServer."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

import rawllm
from rawllm.testing import MockServer

API_KEY = "sk-test-dropin-0000"
ANT_KEY = "sk-ant-test-dropin-0000"


class City(msgspec.Struct):
    name: str
    population: int
    tags: list[str] = []


class Country(msgspec.Struct):
    capital: City
    code: str


def get_weather(city: str, days: int | None = None) -> str:
    """Current weather."""
    return city


def oai(server: MockServer, **kw: Any) -> rawllm.AsyncOpenAI:
    return rawllm.AsyncOpenAI(api_key=API_KEY, base_url=server.openai_base_url, **kw)


def ant(server: MockServer, **kw: Any) -> rawllm.AsyncAnthropic:
    return rawllm.AsyncAnthropic(api_key=ANT_KEY, base_url=server.anthropic_base_url, **kw)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# -- unknown keyword arguments -------------------------------------------------------


async def test_unknown_keyword_raises_before_sending(mock_server: MockServer) -> None:
    async with oai(mock_server) as client:
        with pytest.raises(TypeError, match="did you mean 'temperature'"):
            await client.chat.completions.create(model="m", messages=user("x"), temprature=0.2)
        with pytest.raises(TypeError, match="did you mean 'max_output_tokens'"):
            await client.responses.create(model="m", input="x", max_output_token=3)
        with pytest.raises(TypeError, match="'top_kk'"):
            await client.chat.completions.parse(model="m", messages=user("x"), top_kk=1)
        await client.chat.completions.create(
            model="m", messages=user("x"), extra_body={"top_k": 5}, max_retries=0
        )
    async with ant(mock_server) as client:
        with pytest.raises(TypeError, match="did you mean 'stop_sequences'"):
            await client.messages.create(
                model="m", max_tokens=5, messages=user("x"), stop_sequence=["x"]
            )
        async with client.messages.stream(model="m", max_tokens=5, messages=user("x"), top_k=3):
            pass
    assert [r.json.get("top_k") for r in mock_server.requests] == [5, 3]


# -- structured outputs --------------------------------------------------------------


async def test_chat_parse_sends_a_strict_schema_and_parses(mock_server: MockServer) -> None:
    async with oai(mock_server) as client:
        resp = await client.chat.completions.parse(
            model="gpt-4o", messages=user("Paris France"), response_format=Country
        )
    sent = mock_server.requests[0].json["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Country" and sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"]["$defs"]["City"]["additionalProperties"] is False
    parsed = resp.choices[0].message.parsed
    assert isinstance(parsed, Country) and isinstance(parsed.capital, City)
    assert parsed.capital.name == "Paris France"
    assert resp._request_id is not None and resp.usage is not None
    # the message goes back into a conversation as the API sent it
    async with oai(mock_server) as client:
        await client.chat.completions.create(
            model="gpt-4o", messages=[*user("a"), resp.choices[0].message]
        )
    assert "parsed" not in mock_server.requests[1].json["messages"][1]


async def test_chat_parse_refusal_length_and_misfit(mock_server: MockServer) -> None:
    async with oai(mock_server) as client:
        resp = await client.chat.completions.parse(
            model="m", messages=user("please refuse this"), response_format=City
        )
        assert resp.choices[0].message.refusal
        assert resp.choices[0].message.parsed is None
        with pytest.raises(rawllm.LengthFinishReasonError):
            await client.chat.completions.parse(
                model="m", messages=user("Oslo"), response_format=City, max_completion_tokens=2
            )
        other = {
            "type": "json_schema",
            "json_schema": {
                "name": "x",
                "schema": {"type": "object", "properties": {"other": {"type": "boolean"}}},
            },
        }
        with pytest.raises(rawllm.APIResponseValidationError, match="does not fit City"):
            await client.chat.completions.parse(
                model="m",
                messages=user("Oslo"),
                response_format=City,
                extra_body={"response_format": other},
            )


async def test_parsed_tool_arguments_and_tool_forms(mock_server: MockServer) -> None:
    tool = rawllm.function_tool(get_weather)
    async with oai(mock_server) as client:
        resp = await client.chat.completions.parse(
            model="m", messages=user("get_weather Oslo"), tools=[tool]
        )
        call = resp.choices[0].message.tool_calls[0]
        args = call.function.parsed_arguments
        assert set(args) == {"city", "days"} and isinstance(args["days"], int)
        assert args["city"].startswith("get_weather Oslo")
        assert get_weather(**call.function.parsed_arguments)
        await client.responses.create(model="m", input="get_weather", tools=[tool])
    async with ant(mock_server) as client:
        msg = await client.messages.create(
            model="m",
            max_tokens=20,
            messages=user("Oslo"),
            tools=[rawllm.function_tool(City)],
            tool_choice={"type": "tool", "name": "City"},
        )
    chat_tool, resp_tool, ant_tool = (r.json["tools"][0] for r in mock_server.requests)
    assert chat_tool["function"]["name"] == "get_weather" and chat_tool["function"]["strict"]
    assert resp_tool["name"] == "get_weather" and resp_tool["parameters"]["required"] == [
        "city",
        "days",
    ]
    assert ant_tool["name"] == "City" and "input_schema" in ant_tool
    block = next(b for b in msg.content if b.type == "tool_use")
    city = rawllm.function_tool(City).parse_arguments(block.input)
    assert isinstance(city, City) and city.name.startswith("Oslo")


async def test_responses_parse_retrieve_and_stream(mock_server: MockServer) -> None:
    async with oai(mock_server) as client:
        resp = await client.responses.parse(
            model="m", input="Lyon", text_format=City, text={"verbosity": "low"}
        )
        assert resp.output_parsed == City(name="Lyon", population=1)
        sent = mock_server.requests[0].json["text"]
        assert sent["verbosity"] == "low" and sent["format"]["name"] == "City"
        again = await client.responses.retrieve(resp.id)
        assert again.id == resp.id and again.output_text == resp.output_text
        with pytest.raises(rawllm.NotFoundError):
            await client.responses.retrieve("resp_missing")
        async with client.responses.stream(model="m", input="Lyon", text_format=City) as s:
            final = await s.get_final_response()
        assert final.output_parsed == City(name="Lyon", population=1)


# -- stream helpers ------------------------------------------------------------------


async def test_chat_stream_helper(mock_server: MockServer) -> None:
    async with oai(mock_server) as client:
        async with client.chat.completions.stream(model="m", messages=user("a b")) as s:
            texts = [t async for t in s.text_deltas()]
            snapshot = s.current_completion_snapshot
            final = await s.get_final_completion()
        assert "".join(texts) == final.choices[0].message.content
        assert snapshot.choices[0].message.content == final.choices[0].message.content
        assert mock_server.requests[0].json["stream"] is True
        async with client.chat.completions.stream(
            model="m", messages=user("Rome"), response_format=City
        ) as s:
            chunks = [c async for c in s]
            final = await s.get_final_completion()
        assert len(chunks) > 3
        assert final.choices[0].message.parsed == City(name="Rome", population=1)


async def test_messages_stream_helper(mock_server: MockServer) -> None:
    async with ant(mock_server) as client:
        async with client.messages.stream(model="m", max_tokens=5, messages=user("a b")) as s:
            assert s.current_message_snapshot is None or s.current_message_snapshot.content == []
            first = [t async for t in s.text_stream][:2]
            snap = s.current_message_snapshot
            text = await s.get_final_text()
            message = await s.get_final_message()
        assert text == "a b a b a" and first == ["a", " b"]
        assert snap.content[0].text == text
        assert message.content[0].text == text and message.stop_reason == "max_tokens"
        async with client.messages.stream(model="m", max_tokens=5, messages=user("x")) as s:
            await s.until_done()
            assert s.stream.completed


async def test_leaving_a_stream_helper_releases_it(mock_server: MockServer) -> None:
    async with ant(mock_server) as client:
        async with client.messages.stream(model="m", max_tokens=50, messages=user("x")) as s:
            async for _ in s:
                break
        assert s.stream._closed


# -- raw responses, errors, dumps ----------------------------------------------------


async def test_error_response_and_model_dump(mock_server: MockServer) -> None:
    async with oai(mock_server) as client:
        with pytest.raises(rawllm.NotFoundError) as info:
            await client.models.retrieve("no-such-model")
        resp = await client.chat.completions.create(model="m", messages=user("hi"))
    err = info.value
    assert err.response.status_code == 404
    assert err.response.headers["x-request-id"] == err.request_id
    assert err.response.request is not None and err.response.request.method == "GET"
    assert err.response.request.url.endswith("/v1/models/no-such-model")
    assert err.response.json()["error"]["message"].startswith("The model")
    dumped = resp.model_dump()
    assert dumped == resp.to_dict()
    assert msgspec.json.decode(resp.model_dump_json()) == dumped
    assert "refusal" not in resp.model_dump(exclude_none=True)["choices"][0]["message"]
    assert resp.choices[0].message.model_dump()["content"] == "hi" * 1 + " hi" * 15


# -- lists and retrieval -------------------------------------------------------------


async def test_models_list_and_retrieve_both_clients(mock_server: MockServer) -> None:
    async with oai(mock_server) as client:
        ids = [m.id async for m in client.models.list()]
        page = await client.models.list()
        model = await client.models.retrieve("gpt-4o")
    assert ids == [m.id for m in page.data] and "gpt-4o" in ids
    assert model.id == "gpt-4o" and model.object == "model" and model._request_id
    async with ant(mock_server) as client:
        every = [m async for m in client.models.list(limit=3)]
        first = await client.models.list(limit=3)
        info = await client.models.retrieve("claude-sonnet-4-5")
        with pytest.raises(rawllm.NotFoundError):
            await client.models.retrieve("claude-nope")
    assert len(every) == 8 and all(m.id.startswith("claude-") for m in every)
    assert first.has_more and first.last_id == every[2].id
    queries = [r.query for r in mock_server.requests if r.path == "/v1/models"]
    assert queries[-4:] == [
        "limit=3",
        f"limit=3&after_id={every[2].id}",
        f"limit=3&after_id={every[5].id}",
        "limit=3",
    ]
    assert info.id == "claude-sonnet-4-5-20250929" and info.display_name == "Claude Sonnet 4.5"


# -- Azure and client options --------------------------------------------------------


async def test_azure_routes_version_and_credentials(mock_server: MockServer) -> None:
    endpoint = mock_server.url
    async with rawllm.AzureOpenAI(
        azure_endpoint=endpoint, azure_deployment="gpt-4o", api_version="2024-10-21", api_key="ak"
    ) as client:
        resp = await client.chat.completions.create(model="ignored", messages=user("hi"))
        await client.models.list()
    assert resp.choices[0].message.content
    tokens = iter(["tok-1", "tok-2"])

    async def provider() -> str:
        return next(tokens)

    async with rawllm.AzureOpenAI(
        azure_endpoint=endpoint, api_version="2024-10-21", azure_ad_token_provider=provider
    ) as client:
        await client.embeddings.create(model="emb-deploy", input="hi")
        await client.chat.completions.create(model="gpt-4o-mini", messages=user("x"), stream=False)
    seen = [(r.method, r.path, r.query) for r in mock_server.requests]
    assert seen == [
        ("POST", "/openai/deployments/gpt-4o/chat/completions", "api-version=2024-10-21"),
        ("GET", "/openai/models", "api-version=2024-10-21"),
        ("POST", "/openai/deployments/emb-deploy/embeddings", "api-version=2024-10-21"),
        ("POST", "/openai/deployments/gpt-4o-mini/chat/completions", "api-version=2024-10-21"),
    ]
    h = [r.headers for r in mock_server.requests]
    assert h[0]["api-key"] == "ak" and "Authorization" not in h[0]
    assert h[2]["Authorization"] == "Bearer tok-1" and h[3]["Authorization"] == "Bearer tok-2"
    assert "api-key" not in h[2]


async def test_azure_without_api_version_is_not_found() -> None:
    async with MockServer(api_key="ak") as server:
        async with rawllm.OpenAI(api_key="ak", base_url=server.url + "/openai/deployments/d") as c:
            with pytest.raises(rawllm.NotFoundError, match="Resource not found"):
                await c.chat.completions.create(model="m", messages=user("x"))
            # the query written into base_url is sent on every call, not glued to the path
            url = server.url + "/openai/deployments/d?api-version=2024-10-21"
        async with rawllm.OpenAI(
            api_key="ak", base_url=url, default_headers={"api-key": "ak"}
        ) as c:
            await c.chat.completions.create(model="m", messages=user("x"))
        assert server.requests[-1].path == "/openai/deployments/d/chat/completions"
        assert server.requests[-1].query == "api-version=2024-10-21"


async def test_default_query_organization_project(mock_server: MockServer) -> None:
    async with oai(
        mock_server, default_query={"tenant": "t1"}, organization="org-1", project="proj-1"
    ) as client:
        await client.chat.completions.create(
            model="m", messages=user("x"), extra_query={"trace": "1"}
        )
        await client.with_options(max_retries=0).models.list()
    first, second = mock_server.requests
    assert first.query == "tenant=t1&trace=1" and second.query == "tenant=t1"
    assert first.headers["OpenAI-Organization"] == "org-1"
    assert first.headers["OpenAI-Project"] == "proj-1"


async def test_with_raw_response(mock_server: MockServer) -> None:
    async with oai(mock_server) as client:
        listed = await client.models.with_raw_response.list()
        assert listed.parse().data and listed.status_code == 200
        streamed = await client.chat.completions.with_raw_response.create(
            model="m", messages=user("hi"), stream=True
        )
        assert streamed.headers["content-type"].startswith("text/event-stream")
        async with streamed.parse() as stream:
            assert len([c async for c in stream]) > 1
        resp = await client.responses.create(model="m", input="x")
        await client.responses.retrieve(resp.id, include=["a.b", "c.d"], starting_after=2)
    assert mock_server.requests[-1].query == "include[]=a.b&include[]=c.d&starting_after=2"
    async with ant(mock_server) as client:
        raw_msg = await client.messages.with_raw_response.create(
            model="m", max_tokens=3, messages=user("x")
        )
        assert raw_msg.headers["request-id"] == raw_msg.parse()._request_id
        with pytest.raises(AttributeError):
            client.messages.with_raw_response._post  # noqa: B018
    # last: a 429 makes the client's limiter slow down its later calls
    async with oai(mock_server) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="m",
            messages=user("hi"),
            extra_headers={"x-mock-faults": "429:retry-after-ms=10,ok", "x-mock-key": "raw"},
        )
    completion = raw.parse()
    assert raw.status_code == 200 and raw.retries_taken == 1
    assert raw.elapsed > 0 and raw.request_id == completion._request_id
    assert raw.headers["x-request-id"] == completion._request_id
    assert raw.json() == completion.to_dict() and raw.text.startswith("{")


async def test_with_streaming_response(mock_server: MockServer) -> None:
    async with oai(mock_server) as client:
        create = client.chat.completions.with_streaming_response.create
        async with create(model="m", messages=user("hi")) as r:
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            completion = await r.parse()
        assert completion.choices[0].message.content.startswith("hi")
        assert completion._request_id == r.request_id and completion.to_dict()["id"]
        async with create(model="m", messages=user("hi")) as r:
            body = b"".join([chunk async for chunk in r.iter_bytes()])
        assert msgspec.json.decode(body)["object"] == "chat.completion"
        async with create(model="m", messages=user("hi")) as r:
            pass  # left unread: the connection is dropped, the slot given back
        async with create(model="m", messages=user("hi"), stream=True) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            stream = await r.parse()
            assert len([chunk async for chunk in stream]) > 1
        async with client.models.with_streaming_response.list() as r:
            assert (await r.json())["object"] == "list"
        assert client.limiter.state.in_flight == 0
    assert [r.headers["Accept"] for r in mock_server.requests] == ["application/json"] * 3 + [
        "text/event-stream",
        "application/json",
    ]


async def test_raw_responses_on_the_batch_resources(mock_server: MockServer) -> None:
    async with oai(mock_server) as client:
        raw = await client.files.with_raw_response.create(file=b'{"a": 1}\n', purpose="batch")
        uploaded = raw.parse()
        assert raw.status_code == 200 and raw.headers["x-request-id"]
        async with client.files.with_streaming_response.content(uploaded.id) as body:
            assert await body.read() == b'{"a": 1}\n'
        assert client.limiter.state.in_flight == 0
