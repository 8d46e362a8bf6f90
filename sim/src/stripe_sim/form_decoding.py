"""Stripe's form encoding: ``a[b][c]=v``, ``list[]=v``, ``list[0]=v``.

A call's parameters are the query of a GET or the form body of anything else
(:func:`read_pairs`). Their pairs are folded into nested dicts; ``[]`` appends to a list.
Indexed keys (``foo[0]``) stay dict keys ("0", "1", ...) until a parameter spec that expects
a list turns them into one, the way Stripe accepts both spellings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from stripe_sim.errors import parameter_invalid

Form = dict[str, Any]


async def read_pairs(request: Request) -> list[tuple[str, str]]:
    """The form's key/value pairs: the query of a GET, the body of anything else."""
    if request.method == "GET":
        query = request.url.query
    else:
        query = (await request.body()).decode("utf-8", "replace")
    return parse_qsl(query, keep_blank_values=True)


def _split(key: str) -> list[str]:
    """``a[b][]`` → ``["a", "b", ""]``; a key without brackets is one part."""
    bracket = key.find("[")
    if bracket <= 0 or not key.endswith("]"):
        return [key]
    parts = [key[:bracket]]
    parts.extend(key[bracket + 1 : -1].split("]["))
    return parts


def parse_pairs(pairs: list[tuple[str, str]]) -> Form:
    """Fold decoded key/value pairs into nested parameters."""
    root: Form = {}
    for key, value in pairs:
        parts = _split(key)
        node: Any = root
        for depth, part in enumerate(parts[:-1]):
            nxt = parts[depth + 1]
            if isinstance(node, list):
                raise parameter_invalid(f"Invalid array: {key}", key)
            child = node.get(part)
            if child is None or isinstance(child, str):
                child = [] if nxt == "" else {}
                node[part] = child
            node = child
        last = parts[-1]
        if isinstance(node, list):
            if last != "":
                raise parameter_invalid(f"Invalid array: {key}", key)
            node.append(value)
        elif last == "":
            raise parameter_invalid(f"Invalid array: {key}", key)
        else:
            node[last] = value
    return root
