"""Schema validation of OCPP payloads at a fraction of the ocpp library's cost, with the same
verdicts and the same errors.

The library validates every request and response in both directions with a cached jsonschema
`Draft4Validator`. Its cost is not in loading the schema (that is cached) but in interpreting
it: jsonschema builds a new validator object for every sub-schema it descends into, so an
8-value MeterValues request costs about 0.35 ms, several raw WebSocket round trips.

Here each schema the library loads is compiled once, per (message type, action, OCPP version),
into a chain of plain Python checks. They only decide whether a payload is valid. A payload they
do not accept goes to the library's own validator, whose first error the library turns into the
OCPP-J error code (TypeConstraintViolation, FormatViolation, ProtocolError...) exactly as before,
so invalid payloads are refused with the same code and the same message. The checks never accept
what jsonschema would refuse: they handle the keywords the OCPP 1.6 schemas use, only for the
exact built-in JSON types, and leave everything else (other keywords, `multipleOf` on the
charging-profile schemas, subclasses such as str enums) to jsonschema."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ocpp.messages
from jsonschema import Draft4Validator

Check = Callable[[Any], bool]

# jsonschema's Draft 4 type predicates, restricted to the exact built-in types a JSON parser
# produces (bool is its own type, so it is neither "integer" nor "number" here either).
_JSON_TYPES: dict[str, frozenset[type]] = {
    "object": frozenset({dict}),
    "array": frozenset({list}),
    "string": frozenset({str}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "null": frozenset({type(None)}),
}
_ANY_JSON = frozenset().union(*_JSON_TYPES.values())
# Keywords compiled here; a schema with any other Draft 4 keyword is left to jsonschema whole.
_COMPILED_KEYWORDS = frozenset({"type", "enum", "maxLength", "minItems", "items", "additionalItems",
                                "properties", "required", "additionalProperties", "format"})
_MISSING = object()


class _Unsupported(Exception):
    """The schema uses something the compiled checks do not reproduce exactly."""


class CompiledValidator:
    """Stands in for the library's cached `Draft4Validator`: `validate` raises the same first
    error, and is quick for the payloads that are valid."""

    def __init__(self, full: Draft4Validator, accepts: Check | None) -> None:
        self.full = full
        self.accepts = accepts  # None: the schema is checked by jsonschema only
        self.schema = full.schema

    def validate(self, instance: Any) -> None:
        accepts = self.accepts
        if accepts is not None and accepts(instance):
            return
        self.full.validate(instance)

    def is_valid(self, instance: Any) -> bool:
        return (self.accepts is not None and self.accepts(instance)) or self.full.is_valid(instance)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.full, name)


def compile_validator(full: Draft4Validator) -> CompiledValidator:
    """Wrap a validator built by the library; schemas outside the compiled subset keep it alone."""
    try:
        accepts: Check | None = _Compiler(full).node(full.schema, ())
    except _Unsupported:
        accepts = None
    return CompiledValidator(full, accepts)


class _Compiler:
    def __init__(self, full: Draft4Validator) -> None:
        self.root = full.schema
        self.keywords = frozenset(type(full).VALIDATORS)
        # Without a format checker jsonschema ignores "format", as the library's validators do.
        self.format_checked = full.format_checker is not None

    def node(self, schema: Any, refs: tuple[str, ...]) -> Check:
        if not isinstance(schema, dict):
            raise _Unsupported("boolean or malformed schema")
        if "$ref" in schema:
            # Draft 4 ignores the siblings of $ref.
            return self.node(self._resolve(schema["$ref"], refs), (*refs, schema["$ref"]))
        if isinstance(schema.get("id"), str):
            raise _Unsupported("id changes the base of $ref")
        used = self.keywords.intersection(schema)
        if not used <= _COMPILED_KEYWORDS or ("format" in used and self.format_checked):
            raise _Unsupported(", ".join(sorted(used - _COMPILED_KEYWORDS)) or "format")
        allowed = _ANY_JSON
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not all(isinstance(n, str) and n in _JSON_TYPES for n in names):
                raise _Unsupported(f"type {schema['type']!r}")
            allowed = frozenset().union(*(_JSON_TYPES[n] for n in names))
        enum: frozenset[str] | None = None
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not all(type(v) is str for v in values):
                raise _Unsupported("enum of non-strings")
            enum = frozenset(values)
        max_length = self._count(schema, "maxLength")
        min_items = self._count(schema, "minItems")
        items: Check | None = None
        if "items" in schema:
            if not isinstance(schema["items"], dict):
                raise _Unsupported("items as a list")
            items = self.node(schema["items"], refs)
        # additionalItems only matters when items is a list, which is not compiled.
        props = schema.get("properties", {}) if "properties" in used else {}
        if not isinstance(props, dict):
            raise _Unsupported("properties")
        properties = {name: self.node(sub, refs) for name, sub in props.items()}
        required = tuple(schema.get("required", ())) if "required" in used else ()
        if not all(isinstance(r, str) for r in required):
            raise _Unsupported("required")
        additional: bool | Check = True
        if "additionalProperties" in used:
            extra = schema["additionalProperties"]
            if isinstance(extra, dict):
                additional = self.node(extra, refs)
            elif isinstance(extra, bool):
                additional = extra
            else:
                raise _Unsupported("additionalProperties")
        object_keywords = bool(properties or required or additional is not True)
        return _build(allowed, enum, max_length, min_items, items, properties, required, additional,
                      object_keywords)

    def _resolve(self, ref: Any, refs: tuple[str, ...]) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in refs:
            raise _Unsupported(f"$ref {ref!r}")
        target: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise _Unsupported(f"$ref {ref!r}")
            target = target[part]
        return target

    @staticmethod
    def _count(schema: dict[str, Any], keyword: str) -> int | None:
        if keyword not in schema:
            return None
        value = schema[keyword]
        if type(value) is not int:
            raise _Unsupported(keyword)
        return value


def _build(allowed: frozenset[type], enum: frozenset[str] | None, max_length: int | None,
           min_items: int | None, items: Check | None, properties: dict[str, Check],
           required: tuple[str, ...], additional: bool | Check, object_keywords: bool) -> Check:
    """One check per schema node; the common leaves get a single expression."""
    array_keywords = min_items is not None or items is not None
    if not object_keywords and not array_keywords:
        if allowed == _JSON_TYPES["string"] and max_length is None:
            if enum is not None:
                return lambda x: type(x) is str and x in enum
            return lambda x: type(x) is str
        if allowed == _JSON_TYPES["string"] and enum is None:
            return lambda x: type(x) is str and len(x) <= max_length  # type: ignore[operator]
        if allowed == _JSON_TYPES["integer"] and enum is None:
            return lambda x: type(x) is int
    if not array_keywords and enum is None and max_length is None and allowed == _JSON_TYPES["object"]:
        return _object_check(properties, required, additional)
    object_check = _object_check(properties, required, additional) if object_keywords else None

    def check(x: Any) -> bool:
        t = type(x)
        if t not in allowed:
            return False
        if enum is not None and (t is not str or x not in enum):
            return False
        if t is str:
            return max_length is None or len(x) <= max_length
        if t is dict:
            return object_check is None or object_check(x)
        if t is list:
            if min_items is not None and len(x) < min_items:
                return False
            if items is not None:
                for item in x:
                    if not items(item):
                        return False
        return True

    return check


def _object_check(properties: dict[str, Check], required: tuple[str, ...], additional: bool | Check) -> Check:
    get = properties.get
    closed = additional is False
    extra = additional if callable(additional) else None

    def check(x: Any) -> bool:
        if type(x) is not dict:
            return False
        for name in required:
            if name not in x:
                return False
        for key, value in x.items():
            sub = get(key, _MISSING)
            if sub is _MISSING:
                if closed or (extra is not None and not extra(value)):
                    return False
            elif not sub(value):  # type: ignore[operator]
                return False
        return True

    return check


_compiled: dict[tuple[int, str, str, Any], CompiledValidator] = {}
_library_get_validator: Callable[..., Any] | None = None


def _get_validator(message_type_id: int, action: str, ocpp_version: str,
                   parse_float: Callable[[str], Any] = float) -> CompiledValidator:
    """The library's `get_validator`, compiled once per (message type, action, version): the
    library still finds, reads and caches the schema, and maps a missing one to NotImplemented."""
    key = (message_type_id, action, ocpp_version, parse_float)
    validator = _compiled.get(key)
    if validator is None:
        assert _library_get_validator is not None
        validator = compile_validator(_library_get_validator(message_type_id, action, ocpp_version, parse_float))
        _compiled[key] = validator
    return validator


def install() -> None:
    """Route the library's schema lookup through the compiled validators (idempotent).

    `ocpp.messages._validate_payload` looks `get_validator` up at every call, so replacing it is
    the narrowest hook: message parsing, the choice of schema and the mapping of errors to
    OCPP-J codes all stay the library's."""
    global _library_get_validator
    if ocpp.messages.get_validator is _get_validator:
        return
    _library_get_validator = ocpp.messages.get_validator
    ocpp.messages.get_validator = _get_validator


def uninstall() -> None:
    """Back to the library's own validators (tests compare both)."""
    global _library_get_validator
    if ocpp.messages.get_validator is _get_validator and _library_get_validator is not None:
        ocpp.messages.get_validator = _library_get_validator
        _library_get_validator = None
    _compiled.clear()


def installed() -> bool:
    return ocpp.messages.get_validator is _get_validator
