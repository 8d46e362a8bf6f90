"""Parameter specs: validate decoded form parameters the way Stripe does.

The vocabulary (strings, integers, enums, hashes, lists, metadata) that
``endpoint_params.py`` declares each endpoint's parameters in; ``form_decoding.py`` makes the
nested values a spec parses.

A spec turns the strings of a decoded form into typed values or raises Stripe's error for
the first bad parameter (``parameter_unknown``, ``parameter_missing``,
``parameter_invalid_integer``, ...). An empty string means "unset", as in Stripe's API; it
comes back as ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stripe_sim.errors import parameter_invalid, parameter_missing, parameter_unknown


def child_path(path: str, key: str) -> str:
    """``settings`` + ``payouts`` → ``settings[payouts]``; top level keys stay bare."""
    return f"{path}[{key}]" if path else key


class Spec:
    """Base class: ``parse`` returns the typed value or raises a StripeError."""

    def parse(self, value: Any, path: str) -> Any:
        raise NotImplementedError


class Str(Spec):
    """A string, at most ``max_length`` characters."""

    def __init__(self, max_length: int = 5000) -> None:
        self.max_length = max_length

    def parse(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            raise parameter_invalid(f"Invalid string: {value!r}", path)
        if value == "":
            return None
        if len(value) > self.max_length:
            raise parameter_invalid(
                f"Invalid string: {value[:20]}...; must be at most {self.max_length} characters",
                path,
            )
        return value


class Url(Str):
    """An absolute http(s) URL."""

    def parse(self, value: Any, path: str) -> str | None:
        text = super().parse(value, path)
        if text is not None and not text.startswith(("http://", "https://")):
            raise parameter_invalid("Not a valid URL", path, code="url_invalid")
        return text


class Int(Spec):
    """An integer within optional bounds."""

    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def parse(self, value: Any, path: str) -> int | None:
        if value == "":
            return None
        if not isinstance(value, str) or not value.lstrip("-").isdigit():
            raise parameter_invalid(
                f"Invalid integer: {value}", path, code="parameter_invalid_integer"
            )
        number = int(value)
        if self.minimum is not None and number < self.minimum:
            raise parameter_invalid(
                f"This value must be greater than or equal to {self.minimum}.",
                path,
                code="parameter_invalid_integer",
            )
        if self.maximum is not None and number > self.maximum:
            raise parameter_invalid(
                f"This value must be less than or equal to {self.maximum}.",
                path,
                code="parameter_invalid_integer",
            )
        return number


class Bool(Spec):
    """``true`` or ``false``."""

    def parse(self, value: Any, path: str) -> bool | None:
        if value == "":
            return None
        if value in ("true", "false"):
            return bool(value == "true")
        raise parameter_invalid(f"Invalid boolean: {value}", path)


def _one_of(values: Iterable[str]) -> str:
    items = sorted(values)
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + ", or " + items[-1]


class Enum(Spec):
    """One of a fixed set of strings."""

    def __init__(self, *values: str) -> None:
        self.values = frozenset(values)

    def parse(self, value: Any, path: str) -> str | None:
        if value == "":
            return None
        if not isinstance(value, str) or value not in self.values:
            raise parameter_invalid(f"Invalid {path}: must be one of {_one_of(self.values)}", path)
        return value


class IntOrEnum(Spec):
    """An integer, or one of a few words (``delay_days=minimum``)."""

    def __init__(self, integer: Int, *words: str) -> None:
        self.integer = integer
        self.words = frozenset(words)

    def parse(self, value: Any, path: str) -> int | str | None:
        if isinstance(value, str) and value in self.words:
            return value
        return self.integer.parse(value, path)


class Obj(Spec):
    """A hash with known keys; ``required`` keys must be present and non-empty."""

    def __init__(self, fields: Mapping[str, Spec], required: Iterable[str] = ()) -> None:
        self.fields = dict(fields)
        self.required = tuple(required)

    def parse(self, value: Any, path: str) -> dict[str, Any] | None:
        if value == "" and path:
            return None
        if not isinstance(value, dict):
            raise parameter_invalid(f"Invalid object: {path} must be a hash", path)
        out: dict[str, Any] = {}
        for key, raw in value.items():
            spec = self.fields.get(key)
            if spec is None:
                raise parameter_unknown(child_path(path, key))
            out[key] = spec.parse(raw, child_path(path, key))
        for key in self.required:
            if out.get(key) is None:
                raise parameter_missing(child_path(path, key))
        return out


class MapOf(Spec):
    """A hash with free (or listed) keys, every value parsed by one spec."""

    def __init__(self, value: Spec, keys: Iterable[str] | None = None) -> None:
        self.value = value
        self.keys = frozenset(keys) if keys is not None else None

    def parse(self, value: Any, path: str) -> dict[str, Any] | None:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise parameter_invalid(f"Invalid object: {path} must be a hash", path)
        out: dict[str, Any] = {}
        for key, raw in value.items():
            if self.keys is not None and key not in self.keys:
                raise parameter_unknown(child_path(path, key))
            out[key] = self.value.parse(raw, child_path(path, key))
        return out


class Metadata(Spec):
    """Stripe metadata: up to 50 keys of 40 characters, values of 500; "" deletes a key."""

    def parse(self, value: Any, path: str) -> dict[str, str | None] | None:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise parameter_invalid("Invalid object", path)
        if len(value) > 50:
            raise parameter_invalid(
                "Metadata can have a maximum of 50 keys.", path, code="metadata_too_many_keys"
            )
        out: dict[str, str | None] = {}
        for key, raw in value.items():
            if len(key) > 40:
                raise parameter_invalid(
                    f"Metadata keys can have a maximum length of 40 characters: {key}",
                    child_path(path, key),
                )
            if not isinstance(raw, str):
                raise parameter_invalid("Invalid string", child_path(path, key))
            if len(raw) > 500:
                raise parameter_invalid(
                    "Metadata values can have a maximum length of 500 characters.",
                    child_path(path, key),
                )
            out[key] = raw or None
        return out


class ListOf(Spec):
    """An array: ``a[]=x`` or ``a[0]=x`` (indexed keys arrive as a dict)."""

    def __init__(self, item: Spec) -> None:
        self.item = item

    def parse(self, value: Any, path: str) -> list[Any] | None:
        if value == "":
            return None
        if isinstance(value, dict):
            if not all(key.isdigit() for key in value):
                raise parameter_invalid(f"Invalid array: {path}", path)
            items = [value[key] for key in sorted(value, key=int)]
        elif isinstance(value, list):
            items = value
        else:
            items = [value]
        return [self.item.parse(item, f"{path}[{index}]") for index, item in enumerate(items)]


class IntRange(Spec):
    """``created=1700000000`` or ``created[gte]=…&created[lt]=…`` (``gt``, ``gte``, ``lt``,
    ``lte``): an integer, or a hash of bounds."""

    BOUNDS = Obj({name: Int() for name in ("gt", "gte", "lt", "lte")})

    def parse(self, value: Any, path: str) -> int | dict[str, Any] | None:
        if isinstance(value, dict):
            return self.BOUNDS.parse(value, path)
        return Int().parse(value, path)


class Anything(Spec):
    """Accepted as sent (fields the simulator stores but does not interpret)."""

    def parse(self, value: Any, path: str) -> Any:
        return value


EXPAND = ListOf(Str())
