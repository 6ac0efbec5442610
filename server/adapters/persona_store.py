"""Per-visit persona state in Redis (features, display) and the prediction history in MongoDB."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from personas_engine.feature_state import FeatureState
from personas_engine.policy import DisplayState
from server.adapters.mongo_store import IndexSpec, MongoStore, RetentionRule
from server.adapters.redis_keys import PERSONA, VISIT_STATE, RedisKeys, ttl_of
from server.settings import Settings

PERSONA_HISTORY = "persona_history"
PERSONA_INDEXES = (
    IndexSpec(PERSONA_HISTORY, [("sid", 1), ("at", 1)]),
    IndexSpec(PERSONA_HISTORY, [("vid", 1), ("at", -1)]),
)
VISIT_STATE_TTL_S = ttl_of(VISIT_STATE)  # a visit ends after 30 idle minutes; kept a while
PERSONA_TTL_S = ttl_of(PERSONA)


def persona_retention(settings: Settings) -> list[RetentionRule]:
    return [RetentionRule(PERSONA_HISTORY, "at", settings.retention.predictions_days)]


@dataclass
class VisitState:
    """What the persona worker keeps per visit between rounds."""

    features: FeatureState = field(default_factory=FeatureState)
    display: DisplayState = field(default_factory=DisplayState)
    events_since: int = 0
    predicted_at: float = 0.0  # epoch seconds of the last prediction

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "features": self.features.to_dict(),
                "display": self.display.to_dict(),
                "events_since": self.events_since,
                "predicted_at": self.predicted_at,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> VisitState:
        if not raw:
            return cls()
        data = orjson.loads(raw)
        return cls(
            FeatureState.from_dict(data["features"]),
            DisplayState.from_dict(data["display"]),
            int(data.get("events_since", 0)),
            float(data.get("predicted_at", 0.0)),
        )


class PersonaStateStore:
    def __init__(self, client: aioredis.Redis, keys: RedisKeys | str) -> None:
        self.redis = client
        self.keys = keys if isinstance(keys, RedisKeys) else RedisKeys(keys)

    def visit_key(self, sid: str) -> str:
        return self.keys.visit_state(sid)

    def persona_key(self, vid: str) -> str:
        return self.keys.persona(vid)

    async def load(self, sids: Sequence[str]) -> dict[str, VisitState]:
        """Load many visits' states in one round trip."""
        if not sids:
            return {}
        raw = await self.redis.mget([self.visit_key(sid) for sid in sids])
        return {sid: VisitState.from_json(value) for sid, value in zip(sids, raw, strict=True)}

    async def save(
        self, states: Mapping[str, VisitState], personas: Mapping[str, dict[str, Any]]
    ) -> None:
        """Save visit states and the visitors' current personas in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid, state in states.items():
                pipe.set(self.visit_key(sid), state.to_json(), ex=VISIT_STATE_TTL_S)
            for vid, persona in personas.items():
                pipe.set(self.persona_key(vid), orjson.dumps(persona), ex=PERSONA_TTL_S)
            await pipe.execute()

    async def personas_of(self, vids: set[str]) -> dict[str, str]:
        """Visitors' current personas ("unknown" when none), in one round trip."""
        ordered = sorted(vids)
        if not ordered:
            return {}
        raw = await self.redis.mget([self.persona_key(vid) for vid in ordered])
        return {
            vid: (orjson.loads(value).get("persona", "unknown") if value else "unknown")
            for vid, value in zip(ordered, raw, strict=True)
        }

    async def current(self, vid: str) -> dict[str, Any] | None:
        """The visitor's persona as the worker last stored it (None: not predicted yet)."""
        raw = await self.redis.get(self.persona_key(vid))
        if not raw:
            return None
        found: dict[str, Any] = orjson.loads(raw)
        return found

    async def current_session(self, vid: str) -> str | None:
        raw = await self.redis.get(self.keys.visit(vid))
        if not raw:
            return None
        return raw.decode() if isinstance(raw, bytes) else raw


class PersonaHistory:
    def __init__(self, store: MongoStore) -> None:
        self.collection = store[PERSONA_HISTORY]

    async def record(self, predictions: list[dict[str, Any]]) -> None:
        if predictions:
            await self.collection.insert_many(predictions, ordered=False)

    async def of_session(self, sid: str) -> list[dict[str, Any]]:
        return cast(
            list[dict[str, Any]], await self.collection.find({"sid": sid}).sort("at", 1).to_list()
        )
