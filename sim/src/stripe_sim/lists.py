"""Stripe's lists: newest first, cursor pagination, ``created`` ranges."""

from __future__ import annotations

from typing import Any

from stripe_sim.errors import invalid_request

Json = dict[str, Any]


def page(items: list[Json], params: Json, url: str) -> Json:
    """A Stripe list: newest first, ``limit`` (1..100, default 10), cursor by id.

    ``starting_after``: the page of older objects right after the cursor; ``ending_before``:
    the page of newer objects right before it (``has_more``: still newer ones). ``created``
    filters by an exact time or a range (``gt``, ``gte``, ``lt``, ``lte``).
    """
    items = _newest_first(in_range(items, "created", params.get("created")))
    ids_in_order = [item["id"] for item in items]
    limit = params.get("limit") or 10
    after, before = params.get("starting_after"), params.get("ending_before")
    if after is not None:
        start = _cursor(ids_in_order, after, "starting_after") + 1
        data, has_more = items[start : start + limit], len(items) - start > limit
    elif before is not None:
        end = _cursor(ids_in_order, before, "ending_before")
        start = max(0, end - limit)
        data, has_more = items[start:end], start > 0
    else:
        data, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _newest_first(items: list[Json]) -> list[Json]:
    """Newest first; within one second, the one created later first."""
    order = sorted(enumerate(items), key=lambda pair: (pair[1].get("created", 0), pair[0]))
    return [item for _, item in reversed(order)]


def _cursor(ids_in_order: list[str], object_id: str, param: str) -> int:
    if object_id not in ids_in_order:
        raise invalid_request(
            f"No such object: '{object_id}'", code="resource_missing", param=param
        )
    return ids_in_order.index(object_id)


def in_range(items: list[Json], field_name: str, wanted: int | dict[str, int] | None) -> list[Json]:
    """Items whose ``field_name`` equals ``wanted`` or lies in its ``gt``/``gte``/... range."""
    if wanted is None:
        return items
    if isinstance(wanted, int):
        return [item for item in items if item.get(field_name) == wanted]
    tests = {
        "gt": lambda value, bound: value > bound,
        "gte": lambda value, bound: value >= bound,
        "lt": lambda value, bound: value < bound,
        "lte": lambda value, bound: value <= bound,
    }
    return [
        item
        for item in items
        if all(
            bound is None or tests[op](item.get(field_name, 0), bound)
            for op, bound in wanted.items()
        )
    ]
