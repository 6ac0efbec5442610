"""Persona endpoints: a fresh prediction from stored state, for admins or the visitor themself."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint

from personas_engine.policy import PolicyConfig
from server.domain.errors import Forbidden, NotFound
from server.domain.events import ID_PATTERN
from server.web.admin_auth import current_admin
from server.web.common import json_response, services, visitor

blueprint = Blueprint("personas_api", __name__)


@blueprint.get("/predict-persona/<user_id>")
async def predict_persona(user_id: str) -> Any:
    """Recompute the persona now from the visitor's stored feature state."""
    if current_admin() is None and user_id != visitor().vid:
        raise Forbidden("forbidden", "only admins, or the visitor themself")
    if not ID_PATTERN.fullmatch(user_id):
        raise NotFound("unknown_visitor", "no such visitor")
    shop = services()
    states = shop.personas.states
    session_id = await states.current_session(user_id)
    if session_id is None:
        raise NotFound("unknown_visitor", "no visit in progress for this visitor")
    state = (await states.load([session_id]))[session_id]
    model = await shop.personas.model
    policy = PolicyConfig()  # the gate's sureness defaults, as the persona worker has them
    prediction = model.predict_state(
        state.features, min_evidence=shop.settings.personas.min_evidence, sure=policy.sure
    )
    return json_response(
        {
            "persona": prediction.persona,
            "confidence": prediction.confidence,
            "probabilities": prediction.probabilities,
            "reasons": prediction.reasons,
            "source": "local",
            "model_version": prediction.model_version,
            "shown": state.display.persona,
            "session_id": session_id,
            "at": datetime.fromtimestamp(time.time(), UTC).isoformat(),
        }
    )
