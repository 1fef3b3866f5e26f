"""Query parameters take their default and limits from the message field they fill: one
declaration, shown in the OpenAPI document and enforced at the edge."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import Field

from trading_system.entrypoints.http.params import like
from trading_system.kernel.messages import Query


class ListThings(Query):
    limit: int = Field(default=20, ge=1, le=50, description="how many")
    name: str = Field(default="x", min_length=1, max_length=5)


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/things")
    def things(
        limit: int = like(ListThings, "limit"), name: str = like(ListThings, "name")
    ) -> dict[str, object]:
        return ListThings(limit=limit, name=name).model_dump()

    return app


def test_the_parameter_has_the_fields_default_and_limits() -> None:
    client = TestClient(_app())
    assert client.get("/things").json() == {"limit": 20, "name": "x"}
    assert client.get("/things?limit=50&name=abcde").status_code == 200
    for bad in ("limit=0", "limit=51", "name=abcdef", "name="):
        assert client.get(f"/things?{bad}").status_code == 422, bad
    operation = client.get("/openapi.json").json()["paths"]["/things"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    schema = parameters["limit"]["schema"]
    assert (schema["maximum"], schema["minimum"], schema["default"]) == (50, 1, 20)
    assert parameters["limit"]["description"] == "how many"
