"""Model field helpers shared by the domain apps."""

from __future__ import annotations

from django.db import models

from ourvoice.core.ids import snowflake_id


class SnowflakeIdField(models.BigIntegerField):
    """Primary key filled in Python with a time-ordered 64-bit id."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("default", snowflake_id)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple:
        name, path, args, kwargs = super().deconstruct()
        for key, value in (("primary_key", True), ("default", snowflake_id), ("editable", False)):
            if kwargs.get(key) == value:
                kwargs.pop(key)
        return name, path, args, kwargs
