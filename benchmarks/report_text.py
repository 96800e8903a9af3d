"""The prose of docs/benchmarks.md (figures are filled in by ``benchmarks.report``)."""

HEADLINE_INTRO = """\
rawllm's CPU over the floor's (median of the interleaved repetitions), per
kind of server. Where the advertised limit binds the reference is the floor
paced with `aiolimiter` at the advertised rate, and the ratio to the unpaced
floor follows in brackets. Ratios within about 15% of 1.00 are inside this
shared machine's noise; see the min-max columns of the full tables below."""


CAVEAT = """\
Benchmarks are hard to do well and easy to read wrongly. These measure one
thing: how much **client CPU** a Python process spends per call (and per
stream event) to talk to a local server that answers instantly from
pre-rendered bytes. A real provider takes hundreds of milliseconds per call,
so in a single call the client's cost is noise; it matters when one process
drives hundreds or thousands of calls at once, where the client's CPU becomes
the ceiling on throughput and the source of latency jitter. The figures depend
on the machine, the Python version and every package version (all listed
below); the ratios between contenders, measured in the same run, travel better
than the absolute numbers. On a shared machine (see the load average below)
single repetitions vary by tens of percent: compare medians, read the min-max
columns, and treat differences smaller than the spread (rawllm against the
floor, typically) as a tie, and differences of several times (the SDKs) as
real. Run `python -m benchmarks` on your own machine before believing any of
it."""

METHOD = """\
* The server (`python -m benchmarks.server`, a bare asyncio HTTP/1.1 server on
  uvloop answering from pre-rendered bodies) is its own process pinned to one
  core (`taskset`); every contender runs in a **fresh process** pinned to
  another, one contender at a time, so no two contenders share a process, an
  event loop or a core.
* The server sends the **response headers real providers send**, copied from
  recorded api.openai.com and api.anthropic.com responses, in three modes:
  `none` (date, server, type, length: what vLLM, Ollama and most proxies
  send); `loose` (OpenAI's `x-ratelimit-{{limit,remaining,reset}}-{{requests,tokens}}`
  with Go-duration resets such as `2ms` and `6m0s`, `x-request-id`,
  `openai-processing-ms`, `openai-version`, Cloudflare's `set-cookie`,
  `cf-ray` and the rest; Anthropic's `anthropic-ratelimit-*` for requests,
  tokens, input and output tokens with RFC 3339 resets, `request-id` and the
  rest) with limits far above any load (10,000,000 requests/min); and
  `binding`, the same with a large account's limits (30,000 requests/min and
  150,000,000 tokens/min, OpenAI's tier 5), under which a client that follows
  the headers paces itself at {pace:.0f} starts/s. The server advertises the
  limits; it does not enforce them.
* Every contender uses one pooled client with the **same pool size**
  ({pool} connections), sends the same request and reads the same fields of
  the answer (`tests/test_benchmark_fairness.py` records the requests at the
  server and every field each contender reads, and fails when they differ).
  Each scenario **warms up** (connections open, lazy imports done) before it
  is timed.
* Contenders are **interleaved**: each repetition runs every contender once,
  in a rotated order. The floor, the paced floor and rawllm run {reps}
  repetitions in every mode; the SDKs {peer_reps}; httpx, openai_aiohttp and
  litellm {other_reps} (their distance from the floor, several times, is far
  larger than their spread; the SDKs and litellm also run a quarter of the
  timed calls or fewer, after the same warm-up). Tables show the **median** and the
  min-max of the repetitions; the "where rawllm is behind" list also gives
  the spread of the per-repetition ratios. Every scenario's timed calls were
  multiplied by {factor} (`--calls-factor`). The header modes run one after the other, so
  compare contenders within a mode, not one mode's absolute figures with
  another's.
* CPU is `time.process_time()` in the client process (user + system, all
  threads). Per stream event = the whole streamed call's CPU divided by the
  SSE `data` events the server sends per stream ({events}).
* **The floor** is what a careful user writes by hand: a default
  `aiohttp.ClientSession()` (only the pool size set), bodies encoded with
  msgspec, `raise_for_status()`, msgspec Structs holding only the fields
  read, a minimal SSE splitter that is not spec-exact; no retries, limits or
  error mapping. **The paced floor** (`floor_paced`) is the same plus
  `aiolimiter.AsyncLimiter(1, 1 / rate)` before every request, at the rate the
  `binding` headers advertise; it runs only in that mode, where it is
  rawllm's reference (rawllm follows the headers by default).
* Against the real hosts the default session also stores Cloudflare's
  cookies and sends them back with every request; the server here is
  127.0.0.1, for which aiohttp's cookie jar refuses cookies, so the floor is
  spared that cost (rawllm has no cookie jar).
* `httpx` is raw httpx + httpx-sse with `response.json()` / `json.loads`.
  `litellm` runs in its own virtual environment (it pins `openai<3`) and uses
  its own connection pool. `openai_aiohttp` is the openai SDK with
  `DefaultAioHttpClient` (`openai[aiohttp]`).
* Profile any cell: `python -m benchmarks.profile rawllm chat --concurrency 64
  --headers binding` (cProfile, or `--py-spy flame.svg`)."""

WHY = """\
Why rawllm sits near the floor while the SDKs cost many times more, as the
decoding microbenchmark below and the code paths show:

* **Decoding.** rawllm decodes response bytes straight into msgspec Structs in
  one pass ({rawllm_chunk} µs per chat chunk). The SDKs run `json.loads` and
  then build pydantic models with `construct_type` (pure Python, recursive)
  for every body and every stream event: {openai_chunk} µs per chunk for
  openai, {anthropic_event} µs per event for anthropic. On a 200-chunk stream
  that alone is most of the SDKs' cost per event.
* **HTTP.** rawllm calls aiohttp directly (C HTTP parser, one session). The
  SDKs go through httpx / httpcore (or httpx2) and anyio: a pure-Python
  HTTP/1.1 stack with several layers of objects per request, and a pool whose
  cost grows with the number of connections. With the aiohttp transport
  (`openai_aiohttp`) the httpx request and response objects stay in the
  path, so it saves only part of that.
* **What rawllm adds over the floor** (a retry loop, timeouts, error mapping,
  request ids, reading the rate-limit headers) it pays for partly by turning
  off what aiohttp does by default that an API client never needs: the
  cookie jar, re-reading proxy settings from the environment on every
  request, parsing the URL on every request, and aiohttp's read timer, which
  is cancelled and created anew for every chunk received (rawllm keeps one
  lazy timer per connection that every chunk only moves; see
  `rawllm/_transport.py`). In the `loose` rows rawllm reads the rate-limit
  headers of every response but paces nothing: limits learned from headers
  stand by until the client uses 40% of them (`docs/rate-limits.md`).
  At concurrency 1 the additions cost a little more than the savings, about
  2-4% in instructions: learning from every answer (the accepted rate and the
  calls in flight it was sent at, what the limiter falls back on after a 429
  that states no limits) and decoding every field the API promises; the
  instruction tables below split the gap.
* **Where a stream event's instructions go.** Counted with valgrind on
  the 200-event streams (2026-12-02), per event. Framing: rawllm's WHATWG
  SSE decoder runs in a byte mode for its own readers (the data stays bytes
  and goes straight to msgspec; a `data:` line is cut by one `removeprefix`,
  an `event:` line is one dict lookup) and takes about 3,400 instructions
  per chat event on the whole body, against 8,700 for the floor's
  split-on-blank-lines. Decoding: every field of the typed item (id, model,
  created, service tier, fingerprint, choices, delta, usage) costs about
  2,500 more than the floor's two-field Struct, less than before because the
  Structs now declare their fields in the order the services send them.
  Handing out: `async for` resumes one async generator per item (about
  1,150 instructions; a coroutine per `__anext__` call, as before
  2026-12-03, cost about 2,000), where the floor loops over a network
  chunk's events inline; rawllm's per-chunk decoder makes no Python call
  per ordinary event. Net, an event costs the floor's instructions or
  fewer (the table below); what is left is the API: typed attributes and
  an async iterator.
* **Pacing costs CPU by itself.** Unpaced, one event-loop iteration serves
  many responses at concurrency 64; paced at 500 starts/s every start is its
  own timer and its own iteration, so the fixed cost of an iteration is no
  longer shared. That is why, in the `binding` rows, both rawllm and the paced
  floor cost up to about 3x the unpaced floor per request (the brackets in
  the headline table): compare rawllm with the paced floor there.
* **litellm** wraps the openai SDK (for both APIs here) and adds its own
  translation, logging and cost-tracking layers on top."""
