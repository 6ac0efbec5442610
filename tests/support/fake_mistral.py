"""A local fake of Mistral's HTTP API (chat completions and embeddings) for the real SDK.

Responses follow the SDK's models (ChatCompletionResponse, EmbeddingResponse). Behaviours
are switchable per endpoint: a default (`fake.behaviour["chat"] = "500"`) and a queue of
one-shot behaviours used first (`fake.then("chat", "429", "ok")`):

- "ok": chat answers `fake.verdict` (a dict, dumped as JSON) or `fake.reply_text` if set;
  embeddings answer deterministic hashed bag-of-words vectors of size `DIM`;
- "slow": waits `fake.slow_seconds` before answering normally (past the client's timeout);
- "429": Too Many Requests with `Retry-After: fake.retry_after`;
- "500": Internal Server Error;
- "malformed": chat answers 200 with content that is not the expected JSON object.

`fake.requests` counts the requests received per endpoint, `fake.bodies` keeps their JSON
and `fake.max_in_flight` is the most requests an endpoint was handling at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time
from collections import Counter, deque
from typing import Any

from aiohttp import web

DIM = 64
API_KEY = "test-key-not-a-secret"
DEFAULT_VERDICT: dict[str, Any] = {
    "persona": "explorer",
    "confidence": 0.8,
    "rationale": "Long reading across several categories.",
}


def embed(text: str) -> list[float]:
    """Hashed bag of words, L2-normalised: texts sharing words are near."""
    vector = [0.0] * DIM
    for word in re.findall(r"[a-z_]+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[digest[0] % DIM] += 1.0 if digest[1] % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class FakeMistral:
    """Start with `await fake.start()`; `fake.url` is the SDK's server_url."""

    def __init__(self) -> None:
        self.behaviour: dict[str, str] = {"chat": "ok", "embeddings": "ok"}
        self.queue: dict[str, deque[str]] = {"chat": deque(), "embeddings": deque()}
        self.verdict: dict[str, Any] = dict(DEFAULT_VERDICT)
        self.reply_text: str | None = None
        self.slow_seconds = 3.0
        self.retry_after = "0"
        self.requests: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.bodies: dict[str, list[Any]] = {"chat": [], "embeddings": []}
        self.unauthorised = 0
        self.url = ""
        self._closing = asyncio.Event()
        self._generation = 0
        self._runner: web.AppRunner | None = None

    def then(self, endpoint: str, *behaviours: str) -> None:
        """Queue one-shot behaviours for the next requests to `endpoint`."""
        self.queue[endpoint].extend(behaviours)

    def reset(self) -> None:
        """Back to normal answers and zero counters."""
        self.behaviour = {"chat": "ok", "embeddings": "ok"}
        for q in self.queue.values():
            q.clear()
        self.verdict = dict(DEFAULT_VERDICT)
        self.reply_text = None
        self.slow_seconds = 3.0
        self.retry_after = "0"
        self.requests.clear()
        self._generation += 1
        self._closing.set()  # release "slow" handlers left over from the previous test
        self._closing = asyncio.Event()
        self.in_flight.clear()
        self.max_in_flight.clear()
        self.bodies = {"chat": [], "embeddings": []}

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._closing.set()  # release the "slow" handlers
        if self._runner is not None:
            await self._runner.cleanup()

    async def _behave(self, endpoint: str, request: web.Request) -> web.Response | None:
        self.requests[endpoint] += 1
        generation = self._generation
        self.in_flight[endpoint] += 1
        self.max_in_flight[endpoint] = max(self.max_in_flight[endpoint], self.in_flight[endpoint])
        try:
            return await self._misbehave(endpoint, request)
        finally:
            if generation == self._generation:  # not a leftover from before reset()
                self.in_flight[endpoint] -= 1

    async def _misbehave(self, endpoint: str, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            self.unauthorised += 1
            return web.json_response({"message": "Unauthorized"}, status=401)
        self.bodies[endpoint].append(await request.json())
        queue = self.queue[endpoint]
        mode = queue.popleft() if queue else self.behaviour[endpoint]
        if mode == "slow":
            try:
                closing = self._closing  # reset() swaps it after setting it
                await asyncio.wait_for(closing.wait(), self.slow_seconds)
            except TimeoutError:
                pass
            return None
        if mode == "429":
            return web.json_response(
                {"message": "Requests rate limit exceeded"},
                status=429,
                headers={"Retry-After": self.retry_after},
            )
        if mode == "500":
            return web.json_response({"message": "Internal server error"}, status=500)
        if mode == "malformed" and endpoint == "chat":
            return self._chat_response('Sure! {"persona": "explorer", confidence: high')
        return None

    def _chat_response(self, content: str) -> web.Response:
        return web.json_response(
            {
                "id": "cmpl-fake",
                "object": "chat.completion",
                "model": "mistral-small-latest",
                "created": int(time.time()),
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
            }
        )

    async def _chat(self, request: web.Request) -> web.Response:
        special = await self._behave("chat", request)
        if special is not None:
            return special
        content = self.reply_text if self.reply_text is not None else json.dumps(self.verdict)
        return self._chat_response(content)

    async def _embeddings(self, request: web.Request) -> web.Response:
        special = await self._behave("embeddings", request)
        if special is not None:
            return special
        body = self.bodies["embeddings"][-1]
        inputs = body.get("input", body.get("inputs", []))
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        return web.json_response(
            {
                "id": "embd-fake",
                "object": "list",
                "model": body.get("model", "mistral-embed"),
                "usage": {"prompt_tokens": 10 * len(texts), "total_tokens": 10 * len(texts)},
                "data": [
                    {"object": "embedding", "embedding": embed(text), "index": i}
                    for i, text in enumerate(texts)
                ],
            }
        )
