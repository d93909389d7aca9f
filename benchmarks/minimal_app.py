"""The ceiling KATO's request path is compared with: a minimal FastAPI app on the same
uvicorn — one POST route of KATO's observe path, a pydantic body, a dict append.

    .venv/bin/python -m uvicorn benchmarks.minimal_app:app --port 8001
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
_events: dict[str, list[list[str]]] = {}


class Observation(BaseModel):
    strings: list[str] = []


@app.post("/v2/sessions/{session_id}/observe")
async def observe(session_id: str, observation: Observation) -> dict[str, object]:
    events = _events.setdefault(session_id, [])
    events.append(observation.strings)
    return {"status": "observed", "session_id": session_id, "time": len(events)}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}
