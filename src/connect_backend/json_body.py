"""JSON request bodies read strictly: a key twice in one object is refused, not last-one-wins.

`{"organization_id": "a", "organization_id": "b"}` is valid JSON that parsers read
differently (Python keeps the last, others the first): whatever checked one value must not
act on another. FastAPI's documented extension point does it ("Custom Request and APIRoute
class"): a route class whose handler receives a `Request` whose `json()` refuses duplicates,
in nested objects too. Routes without a body keep FastAPI's own handler, untouched.

The same extension point, and the way out for JSON answers: `DirectRoute` (a handler that
takes the request and writes its answer, for the webhook), `LeanRoute` (a read whose one
dependency needs only the request, for status) and `json_answer` (a response model serialized
once).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

from connect_backend.errors import MalformedBody

_SHOWN_KEY = 64
"""At most this many characters of a duplicated key are named in the answer."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One JSON object's members as a dict; `MalformedBody` when a key comes twice."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = json.dumps(key[:_SHOWN_KEY])  # in ASCII, quoted
                raise MalformedBody(
                    f"The JSON body holds the key {shown} more than once in one object.",
                    code="duplicate_json_key",
                )
            seen.add(key)
    return found


class StrictJSONRequest(Request):
    """A request whose `json()` refuses an object holding a key twice (400
    `duplicate_json_key`)."""

    async def json(self) -> Any:
        """The body as JSON, every object's keys distinct."""
        return json.loads(await self.body(), object_pairs_hook=_refuse_duplicates)


class StrictJSONRoute(APIRoute):
    """An `APIRoute` whose JSON body, if it takes one, is read by `StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if self.body_field is None:
            return handle  # no body to read (the status and balance GETs): nothing to check

        async def strict(request: Request) -> Response:
            return await handle(StrictJSONRequest(request.scope, request.receive))

        return strict


class DirectRoute(APIRoute):
    """An `APIRoute` whose endpoint takes the `Request` and returns the `Response` itself.

    FastAPI still documents it from its decorator (`response_model`, `responses`,
    `openapi_extra`), but per request it solves no dependencies and validates no response
    model: for a route that needs neither, at the volume Stripe delivers (the webhook)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return handle


class LeanRoute(APIRoute):
    """An `APIRoute` for a read whose one dependency needs nothing but the request (the
    `Requirement`), whose other parameters are path and query parameters, and whose endpoint
    returns its `Response` itself (`json_answer`).

    FastAPI documents it from the endpoint's signature, as any route. Per request it calls the
    dependency, then validates the parameters with FastAPI's own `request_params_to_args` (the
    same values, the same 422 `RequestValidationError`, after the dependency as FastAPI orders
    them), then calls the endpoint: none of the general handler's body reading, dependency
    solving and response-model pass. A route of any other shape is refused when it is built."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        dependant = self.dependant
        one = dependant.dependencies[0] if len(dependant.dependencies) == 1 else None
        need, need_name = (one.call, one.name) if one is not None else (None, None)
        if (
            self.body_field is not None
            or one is None
            or need is None
            or need_name is None
            or not _lean(dependant, one)
        ):
            raise TypeError(f"{self.path}: not a route LeanRoute can serve")
        path_params, query_params = dependant.path_params, dependant.query_params
        endpoint: Callable[..., Coroutine[Any, Any, Response]] = self.endpoint

        async def lean(request: Request) -> Response:
            granted = await need(request)
            values, errors = request_params_to_args(path_params, request.path_params)
            if query_params:
                queried, query_errors = request_params_to_args(query_params, request.query_params)
                values.update(queried)
                errors.extend(query_errors)
            if errors:
                raise RequestValidationError(errors)
            values[need_name] = granted
            return await endpoint(**values)

        return lean


def _lean(endpoint: Dependant, need: Dependant) -> bool:
    """Whether `endpoint` (async) takes only path and query parameters and `need`, and `need`
    (async) takes only the request: what `LeanRoute` passes them, and all it passes."""
    handed = (  # what FastAPI would hand a callable besides its parameters
        "websocket_param_name",
        "http_connection_param_name",
        "response_param_name",
        "background_tasks_param_name",
        "security_scopes_param_name",
    )
    return (
        _is_async(endpoint.call)
        and _is_async(need.call)
        and need.request_param_name is not None
        and endpoint.request_param_name is None
        and not any(getattr(d, name) for d in (endpoint, need) for name in handed)
        and not (endpoint.header_params or endpoint.cookie_params or endpoint.body_params)
        and not (need.dependencies or need.path_params or need.query_params)
        and not (need.header_params or need.cookie_params or need.body_params)
    )


def _is_async(call: Callable[..., Any] | None) -> bool:
    """A coroutine function, or an object whose `__call__` is one (a `Requirement`)."""
    return callable(call) and (
        inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(type(call).__call__)
    )


def json_answer(model: BaseModel) -> Response:
    """`model` as a 200 JSON answer, serialized once by pydantic. Returned by a handler that
    builds its route's response model itself: FastAPI passes a `Response` through, where it
    would dump a returned model, validate the dump against the response model and serialize it
    again. The route's `response_model` still documents it."""
    return Response(model.model_dump_json(), media_type="application/json")
