"""Servers the tests start themselves, on 127.0.0.1 only: a uvicorn thread per app
(:func:`llm2fx_lab.server.in_background`, here as ``running``)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from llm2fx_lab.server import in_background as running  # noqa: F401 - the tests' name for it


def replay_app(fixtures: list[dict], seen: list[dict] | None = None, models: list[str] = ("m",)) -> FastAPI:
    """An OpenAI-compatible endpoint that answers each chat request with the next recorded stream
    (``{"chunks": [...]}``), lists ``models``, and keeps the requests it got in ``seen``."""
    app = FastAPI()
    turns = iter(fixtures)

    @app.get("/v1/models")
    async def listing(request: Request):  # noqa: ANN202 - a test double
        if seen is not None:
            seen.append({"body": None, "headers": dict(request.headers)})
        return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "test"} for m in models]}

    @app.post("/v1/chat/completions")
    async def completions(request: Request):  # noqa: ANN202 - a test double
        body = await request.json()
        if seen is not None:
            seen.append({"body": body, "headers": dict(request.headers)})
        try:
            fixture = next(turns)
        except StopIteration:
            return JSONResponse({"error": {"message": "no more recorded turns"}}, status_code=500)
        if "status" in fixture:
            return JSONResponse(fixture["error"], status_code=fixture["status"])

        def events():
            for chunk in fixture["chunks"]:
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


FIXTURES = Path(__file__).resolve().parent / "planners" / "chat_fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())
