"""`LeanRoute` serves only the shape it was made for, and says so when the app is built.

Every endpoint refused below is async (but one), so that each is refused for its own shape."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from pydantic import BaseModel

from connect_backend.json_body import LeanRoute


async def needs_the_request(request: Request) -> str:
    return request.url.path


async def needs_a_header(x_org_id: Annotated[str, Header()]) -> str:
    return x_org_id


class Body(BaseModel):
    name: str


async def test_a_read_whose_one_dependency_needs_the_request_is_served() -> None:
    router = APIRouter(route_class=LeanRoute)

    @router.get("/read/{org_id}")
    async def read(
        granted: Annotated[str, Depends(needs_the_request)], org_id: str, flag: bool = False
    ) -> Response:
        return Response(f"{granted} {org_id} {flag}")

    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        plain = await client.get("/read/org_a")
        flagged = await client.get("/read/org_a?flag=on")
        refused = await client.get("/read/org_a?flag=maybe")

    assert (plain.status_code, plain.text) == (200, "/read/org_a org_a False")
    assert (flagged.status_code, flagged.text) == (200, "/read/org_a org_a True")
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["query", "flag"]]


def needs_the_request_synchronously(request: Request) -> str:
    return request.url.path


async def endpoint_with_a_synchronous_dependency(
    granted: Annotated[str, Depends(needs_the_request_synchronously)],
) -> None:
    pass


def synchronous_endpoint(granted: Annotated[str, Depends(needs_the_request)]) -> None:
    pass


async def endpoint_that_takes_the_response(
    granted: Annotated[str, Depends(needs_the_request)], response: Response
) -> None:
    pass


async def endpoint_with_a_body(
    granted: Annotated[str, Depends(needs_the_request)], body: Body
) -> None:
    pass


async def endpoint_with_a_header(
    granted: Annotated[str, Depends(needs_the_request)], x_user_id: Annotated[str, Header()]
) -> None:
    pass


async def endpoint_with_two_dependencies(
    granted: Annotated[str, Depends(needs_the_request)],
    again: Annotated[str, Depends(needs_the_request)],
) -> None:
    pass


async def endpoint_whose_dependency_reads_a_header(
    granted: Annotated[str, Depends(needs_a_header)],
) -> None:
    pass


async def endpoint_without_a_dependency(flag: bool = False) -> None:
    pass


@pytest.mark.parametrize(
    "endpoint",
    [
        endpoint_with_a_body,
        endpoint_with_a_header,
        endpoint_with_two_dependencies,
        endpoint_whose_dependency_reads_a_header,
        endpoint_without_a_dependency,
        endpoint_with_a_synchronous_dependency,
        synchronous_endpoint,
        endpoint_that_takes_the_response,
    ],
)
def test_any_other_shape_is_refused_when_the_route_is_built(endpoint: object) -> None:
    router = APIRouter(route_class=LeanRoute)

    with pytest.raises(TypeError, match="not a route LeanRoute can serve"):
        router.add_api_route("/read", endpoint, methods=["POST"])  # type: ignore[arg-type]
