"""One config dialect: pydantic v2 schemas for the project's YAML files, errors that name file, key and value.

Why one module: every configuration file (datasets, topics, profiles, local paths, models, recipes, label maps)
is validated the same way, so a typo anywhere fails the same way: ``mammovqa: error: FILE: KEY:
what is wrong, got VALUE`` (a :class:`~mammovqa.errors.ConfigError`, exit code 2). Schemas describe the shape and
types (a field's ``description`` is quoted when the key is missing; a validator's ``ValueError`` text is the
message); rules that tie several keys or files together stay in the loader, which raises ``ConfigError`` with
the key itself. Each file's schema lives beside its loader; this module holds the machinery they share.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from .errors import ConfigError

T = TypeVar("T")

# Shared by every schema: unknown keys are errors (a misspelt key must not be silently ignored), objects are
# read-only once loaded.
STRICT = ConfigDict(extra="forbid", frozen=True)


class Schema(BaseModel):
    """Base of the YAML schemas (``extra="forbid"``, frozen)."""

    model_config = STRICT


def _fields(tp: Any) -> dict[str, Any] | None:
    """Field name -> annotation of a pydantic model or (pydantic) dataclass, else None."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {k: f.annotation for k, f in tp.model_fields.items()}
    fields = getattr(tp, "__pydantic_fields__", None)
    if fields is not None:
        return {k: f.annotation for k, f in fields.items()}
    return None


def _bare(tp: Any) -> Any:
    """``tp`` without ``Annotated[...]`` wrappers (constraints and validators say nothing about nesting)."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _description(owner: Any, name: str) -> str | None:
    """The ``Field(description=...)`` of field ``name`` of a pydantic model, if it has one.

    Why: a required key's description is the rule a writer needs when the key is missing ("every entry needs a
    source ..."), so the missing-key error quotes it rather than a bare "missing required key".
    """
    if isinstance(owner, type) and issubclass(owner, BaseModel) and name in owner.model_fields:
        return owner.model_fields[name].description
    return None


def _schema_at(root: Any, loc: Sequence[Any]) -> Any:
    """The schema (model or dataclass) that owns the last element of a validation error location, if any."""
    tp = root
    for part in loc:
        tp = _bare(tp)
        fields = _fields(tp)
        if fields is not None:
            if str(part) not in fields:
                return None
            tp = fields[str(part)]
            continue
        origin, args = get_origin(tp), [a for a in get_args(tp) if a is not type(None)]
        if origin in (typing.Union, types.UnionType):
            tp = next((a for a in args if _fields(a) is not None), None)
            if tp is None:
                return None
            fields = _fields(tp)
            if fields is None or str(part) not in fields:
                return None
            tp = fields[str(part)]
        elif origin in (dict, Mapping) and len(args) == 2:
            tp = args[1]
        elif origin in (list, tuple, Sequence) and args:
            tp = args[0]
        else:
            return None
    return _bare(tp)


def config_error(exc: ValidationError, file: str | Path, schema: Any, prefix: Sequence[str] = (),
                 what: str = "", hidden: Collection[str] = ()) -> ConfigError:
    """The first error of ``exc`` as a ConfigError: dotted key, what is wrong, and the offending value.

    ``what`` names the kind of file in unknown-key errors ("unknown recipe key"); ``hidden`` lists fields that
    are set by the loader, not written in the file, so they are not offered as allowed keys.
    """
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    key = ".".join([*prefix, *loc]) or "<root>"
    kind = err["type"]
    if kind in ("missing", "missing_argument", "missing_keyword_only_argument"):
        rule = _description(_schema_at(schema, loc[:-1]), loc[-1]) if loc else None
        return ConfigError(file, key, "missing required key" + (f" ({rule})" if rule else ""))
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        owner = _fields(_schema_at(schema, loc[:-1])) or {}
        allowed = sorted(k for k in owner if k not in hidden)
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return ConfigError(file, key, f"unknown {what + ' ' if what else ''}key {loc[-1]!r}{hint}")
    # A schema's own validator raised ValueError(rule): its rule, without pydantic's "Value error, " prefix.
    msg = str(err["ctx"]["error"]) if kind == "value_error" and "error" in err.get("ctx", {}) else err["msg"]
    return ConfigError(file, key, f"{msg}, got {err['input']!r}")


def validate(schema: type[T], raw: Any, file: str | Path, prefix: Sequence[str] = (), what: str = "",
             hidden: Collection[str] = ()) -> T:
    """``raw`` (parsed YAML) validated against ``schema``; any problem raises a ConfigError naming file and key."""
    try:
        return TypeAdapter(schema).validate_python(raw)
    except ValidationError as exc:
        raise config_error(exc, file, schema, prefix, what, hidden) from None
