"""RedisStore: one request and token budget shared by every process and host using a key.

The accounting is the same GCRA as ``_ratelimit.Pacer`` (request spacing
``60 / rpm``, token spacing ``60 / tpm`` per token, paid on start and
corrected on settle, plus a shared pause after a 429), done atomically by one
Lua script inside Redis with Redis's own clock (``TIME``), so that the
clocks of the hosts never matter.  Times are integer microseconds.

The official ``redis`` package (extra ``[redis]``) is imported only when the
store is first used.

When Redis cannot be reached: ``fail_open=True`` (the default) logs one
warning per outage and lets the limiter pace with its local budget only
(every process then applies the full budget on its own) for a few seconds
before trying Redis again; ``fail_open=False`` raises
``rawllm.APIConnectionError`` from ``acquire()``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from ._exceptions import APIConnectionError
from ._ratelimit import CATCH_UP, MAX_CATCH_UP

__all__ = ["RedisStore"]

logger = logging.getLogger("rawllm")

# KEYS[1]: a hash with r (next request start), t (token budget's next free
# time), p (paused until); all integer microseconds of the Redis clock.
_LUA = """
local key = KEYS[1]
local op = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local r = tonumber(redis.call('HGET', key, 'r')) or 0
local tk = tonumber(redis.call('HGET', key, 't')) or 0
local p = tonumber(redis.call('HGET', key, 'p')) or 0
local result = 0
if op == 'reserve' then
  local cost = tonumber(ARGV[2])
  local interval = tonumber(ARGV[3])
  local per_token = tonumber(ARGV[4])
  local slack = tonumber(ARGV[5])
  local frac = tonumber(ARGV[6])
  local at = p
  if interval > 0 and r > at then at = r end
  if per_token > 0 and tk > at then at = tk end
  if at > now then
    return {0, at - now, 0, 0}
  end
  -- lateness up to slack (< one interval) does not push the schedule back
  if interval > 0 then
    if r < now - math.min(slack, interval * frac) then r = now end
    r = r + interval
  end
  local tstep = 0
  if per_token > 0 then
    tstep = math.floor(cost * per_token)
    if tk < now - math.min(slack, tstep * frac) then tk = now end
    tk = tk + tstep
  end
  result = {1, now, r, tstep}
elseif op == 'refund' then
  local granted_r = tonumber(ARGV[2])
  local interval = tonumber(ARGV[3])
  local tstep = tonumber(ARGV[4])
  if interval > 0 and r == granted_r then r = r - interval end
  tk = math.max(tk - tstep, now)
elseif op == 'adjust' then
  local delta = tonumber(ARGV[2])
  if delta > 0 then
    tk = math.max(tk, now) + delta
  else
    tk = math.max(tk + delta, now)
  end
elseif op == 'pause' then
  p = math.max(p, now + tonumber(ARGV[2]))
end
redis.call('HSET', key, 'r', string.format('%d', r), 't', string.format('%d', tk),
           'p', string.format('%d', p))
local horizon = math.max(r, tk, p, now) - now
redis.call('PEXPIRE', key, math.floor(horizon / 1000) + 120000)
return result
"""

_SLACK_US = int(MAX_CATCH_UP * 1e6)  # as _ratelimit.Pacer: lateness forgiven, < 1 interval
_USERINFO = re.compile(r"//[^@/]*@")


class RedisStore:
    """A rate-limit budget kept in Redis, shared by every process and host using ``key``.

    Pass it as ``RateLimit(store=...)``; every process sets the same
    ``requests_per_minute`` / ``tokens_per_minute`` (the budget of the key,
    not a per-process share).

    Args:
        url: a redis URL (``redis://host:6379/0``, ``rediss://`` for TLS).
        key: the Redis key holding the budget; one key per provider budget.
        fail_open: when Redis is unreachable, True paces with the local
            budget only (and warns once per outage); False raises
            ``APIConnectionError`` from the call.
        timeout: seconds for connecting to and answering from Redis.
        max_connections: connections to Redis per process (calls queue for one).
        client: an existing ``redis.asyncio.Redis`` to use instead of ``url``
            (not closed by ``aclose()``).

    Example:
        >>> store = rawllm.RedisStore("redis://10.0.0.5:6379/0", key="openai:org-main")
        >>> client = rawllm.OpenAI(rate_limit=rawllm.RateLimit(
        ...     requests_per_minute=5000, tokens_per_minute=2_000_000, store=store))
    """

    __slots__ = (
        "_client",
        "_loop",
        "_owned",
        "_script",
        "_warned",
        "fail_open",
        "key",
        "max_connections",
        "timeout",
        "url",
    )

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key: str = "rawllm:ratelimit",
        fail_open: bool = True,
        timeout: float = 1.0,
        max_connections: int = 16,
        client: Any = None,
    ) -> None:
        self.url = url
        self.key = key
        self.fail_open = fail_open
        self.timeout = timeout
        self.max_connections = max_connections
        self._client = client
        self._owned = client is None
        self._script: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned = False

    def __repr__(self) -> str:
        url = _USERINFO.sub("//***@", self.url) if self._owned else "<client>"
        mode = "fail_open" if self.fail_open else "fail_closed"
        return f"RedisStore({url!r}, key={self.key!r}, {mode})"

    def _redis(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._script is None or (self._owned and loop is not self._loop):
            if self._owned:
                try:
                    import redis.asyncio as aioredis
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise ImportError(
                        "rawllm.RedisStore needs the redis package: pip install 'rawllm[redis]'"
                    ) from exc
                # A blocking pool: calls queue for a connection instead of
                # failing with MaxConnectionsError (redis-py's default pool
                # raises, which would read as "Redis is down").
                pool = aioredis.BlockingConnectionPool.from_url(
                    self.url,
                    max_connections=self.max_connections,
                    timeout=max(1.0, 5 * self.timeout),
                    socket_timeout=self.timeout,
                    socket_connect_timeout=self.timeout,
                )
                self._client = aioredis.Redis.from_pool(pool)  # the client owns the pool
            self._script = self._client.register_script(_LUA)
            self._loop = loop
        return self._script

    async def _call(self, *args: Any) -> Any:
        """Run the script; map Redis being unreachable to the fail-open/closed rule.

        Returns:
            The script's reply, or None when Redis is unreachable and the store fails open.
        """
        from redis.exceptions import RedisError

        try:
            reply = await self._redis()(keys=[self.key], args=list(args))
        except (TimeoutError, RedisError, OSError) as exc:
            if not self.fail_open:
                raise APIConnectionError(f"Rate-limit store unreachable: {exc!r}") from exc
            if not self._warned:
                self._warned = True
                logger.warning(
                    "rawllm: %r unreachable (%r); pacing with this process's budget only",
                    self,
                    exc,
                )
            return None
        if self._warned:
            self._warned = False
            logger.warning("rawllm: %r reachable again; sharing the budget", self)
        return reply

    async def reserve(
        self, cost: int, rpm: float | None, tpm: float | None
    ) -> tuple[float, Any] | None:
        """Commit one start if the shared budget allows it now.

        Args:
            cost: estimated tokens of the request.
            rpm: this process's current request pace (None: not paced).
            tpm: this process's current token pace (None: not paced).

        Returns:
            ``(0.0, receipt)`` when started; ``(seconds, None)`` to come back
            later (nothing consumed); None when Redis is unreachable and the
            store fails open.

        Raises:
            APIConnectionError: Redis is unreachable and ``fail_open`` is False.
        """
        interval = 0 if rpm is None else max(1, int(60_000_000 / rpm))
        per_token = 0.0 if tpm is None else 60_000_000 / tpm
        reply = await self._call(
            "reserve", cost, interval, repr(per_token), _SLACK_US, repr(CATCH_UP)
        )
        if reply is None:
            return None
        ok, a, b, c = (int(x) for x in reply)
        if not ok:
            return (a / 1e6, None)
        # receipt: (granted at, request TAT after it, request step, token step), microseconds
        return (0.0, (a, b, interval, c))

    async def refund(self, receipt: Any) -> None:
        """Give back a start whose caller was cancelled before it could send."""
        _, r_after, interval, tstep = receipt
        await self._call("refund", r_after, interval, tstep)

    async def adjust(self, tokens: int, tpm: float | None) -> None:
        """Correct the shared token budget by ``tokens`` (negative: refund)."""
        if tpm is None or not tokens:
            return
        await self._call("adjust", int(tokens * 60_000_000 / tpm))

    async def pause(self, seconds: float) -> None:
        """Close the shared gate for ``seconds`` (after a 429), for every process."""
        await self._call("pause", max(0, int(seconds * 1e6)))

    async def aclose(self) -> None:
        """Close the Redis connection pool if this store created it."""
        client, self._client = self._client, None
        self._script = None
        if client is not None and self._owned:
            await client.aclose()
        elif not self._owned:
            self._client = client
