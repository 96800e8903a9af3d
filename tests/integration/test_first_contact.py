"""What a newcomer meets first: the mock takes the official SDKs' auth, lists each
provider's own models, can refuse unknown ones, and a base URL without /v1 says so."""

from __future__ import annotations

import pytest

import rawllm
from rawllm.testing import MockServer

MSG = [{"role": "user", "content": "hi"}]


async def test_anthropic_routes_accept_bearer_auth_as_the_sdk_sends_it() -> None:
    # The official SDK built with auth_token= sends "Authorization: Bearer ..." and no
    # x-api-key on /v1/messages; rawllm.Anthropic(auth_token=...) sends the same.
    async with MockServer(api_key="k-right") as server:
        url = server.anthropic_base_url
        async with rawllm.Anthropic(auth_token="k-right", base_url=url) as client:
            msg = await client.messages.create(
                model="claude-sonnet-4-5", max_tokens=8, messages=MSG
            )
            assert msg.content[0].text
        sent = server.requests[-1].headers
        assert "x-api-key" not in sent and sent["authorization"] == "Bearer k-right"
        async with rawllm.Anthropic(auth_token="k-wrong", base_url=url) as client:
            with pytest.raises(rawllm.AuthenticationError):
                await client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=MSG)
        async with rawllm.Anthropic(api_key="k-right", base_url=url) as client:  # x-api-key
            await client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=MSG)


async def test_each_provider_lists_its_own_model_ids() -> None:
    import aiohttp

    async with MockServer() as server:
        async with rawllm.OpenAI(api_key="k", base_url=server.openai_base_url) as client:
            openai_ids = [m.id for m in (await client.models.list()).data]
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/v1/models", headers=headers) as resp:
                page = await resp.json()
    assert "gpt-4o-mini" in openai_ids and not any(i.startswith("claude") for i in openai_ids)
    claude_ids = [m["id"] for m in page["data"]]
    assert any(i.startswith("claude-sonnet-4-5") for i in claude_ids)
    assert all(i.startswith("claude") for i in claude_ids)
    assert all(m["type"] == "model" and m["display_name"] for m in page["data"])
    assert (page["first_id"], page["last_id"]) == (claude_ids[0], claude_ids[-1])


async def test_strict_models_answers_404_like_the_providers() -> None:
    async with MockServer(strict_models=True) as server:
        async with rawllm.OpenAI(api_key="k", base_url=server.openai_base_url) as client:
            ok = await client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
            assert ok.choices[0].message.content
            with pytest.raises(rawllm.NotFoundError) as info:
                await client.chat.completions.create(model="gpt-nope", messages=MSG)
            assert "`gpt-nope` does not exist" in info.value.message
            assert info.value.code == "model_not_found"
        async with rawllm.Anthropic(api_key="k", base_url=server.anthropic_base_url) as client:
            msg = await client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=MSG)
            assert msg.content[0].text
            with pytest.raises(rawllm.NotFoundError) as info2:
                await client.messages.create(model="gpt-4o-mini", max_tokens=8, messages=MSG)
            assert info2.value.type == "not_found_error"
    async with MockServer() as lenient:  # the default serves any name
        async with rawllm.OpenAI(api_key="k", base_url=lenient.openai_base_url) as client:
            await client.chat.completions.create(model="anything", messages=MSG)


async def test_a_base_url_without_v1_gets_a_hint() -> None:
    async with MockServer() as server:
        async with rawllm.OpenAI(api_key="k", base_url=server.url, max_retries=0) as client:
            with pytest.raises(rawllm.NotFoundError) as info:
                await client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert f"{server.url}/v1" in info.value.message
