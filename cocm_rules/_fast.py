"""Building already-valid pydantic models without validation, cheaply (hot paths only).

``Model.model_construct`` still walks the fields in Python; for objects built once per fired
rule or per patient, setting the instance dict directly is several times cheaper. Each
constructor is checked against ``model_construct`` on a sample when it is made, and falls
back to it if pydantic's internals ever differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from ._log import get_logger

log = get_logger(__name__)

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


def fast_constructor(cls: type[M], sample: Mapping[str, Any]) -> Callable[[dict[str, Any]], M]:
    """A function that builds a ``cls`` from a dict holding every field, already valid
    (the dict becomes the instance's ``__dict__``: pass a fresh one)."""

    def build(fields: dict[str, Any]) -> M:
        obj = cls.__new__(cls)
        _set(obj, "__dict__", fields)
        _set(obj, "__pydantic_fields_set__", set(fields))
        _set(obj, "__pydantic_extra__", None)
        _set(obj, "__pydantic_private__", None)
        return obj

    try:
        fast, slow = build(dict(sample)), cls.model_construct(**sample)
        if fast == slow and fast.model_dump() == slow.model_dump() and list(sample) == list(cls.model_fields):
            return build
    except Exception as e:  # any difference in pydantic internals: use the public API
        log.info("models.fast_construct_disabled", model=cls.__name__, reason=type(e).__name__)
    return lambda fields: cls.model_construct(**fields)
