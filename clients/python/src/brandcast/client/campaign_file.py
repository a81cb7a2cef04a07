"""Campaign files: YAML (or JSON) in the protobuf JSON mapping of ``CampaignSpec``.

Field names may be written in snake_case (``core_message``) or lowerCamelCase
(``coreMessage``). A misspelt field is an error that names its path and the
nearest real field: ``core_mesage: CampaignSpec has no such field; did you mean core_message?``
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import descriptor, json_format

from brandcast.v1 import campaign_pb2


class CampaignFileError(Exception):
    """The campaign file cannot be read as a CampaignSpec."""


def load_campaign(path: str | Path) -> campaign_pb2.CampaignSpec:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CampaignFileError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CampaignFileError(f"{path}: expected a mapping of CampaignSpec fields")
    return parse_campaign(data, source=str(path))


def parse_campaign(data: dict[str, Any], *, source: str = "campaign") -> campaign_pb2.CampaignSpec:
    problem = unknown_field(data, campaign_pb2.CampaignSpec.DESCRIPTOR)
    if problem:
        raise CampaignFileError(f"{source}: {problem}")
    try:
        return json_format.ParseDict(_plain(data), campaign_pb2.CampaignSpec())
    except json_format.ParseError as exc:
        raise CampaignFileError(f"{source}: {exc}") from exc


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def unknown_field(data: Any, message: descriptor.Descriptor, path: str = "") -> str | None:
    """The first key of ``data`` that is no field of ``message`` (recursively), explained."""
    if not isinstance(data, dict):
        return None
    fields = {f.name: f for f in message.fields} | {f.json_name: f for f in message.fields}
    for key, value in data.items():
        field = fields.get(str(key))
        where = f"{path}{key}"
        if field is None:
            names = [f.name for f in message.fields]
            close = difflib.get_close_matches(_snake(str(key)), names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"fields are {', '.join(names)}"
            return f"{where}: {message.name} has no such field; {hint}"
        problem = _unknown_in_value(value, field, where)
        if problem:
            return problem
    return None


def _unknown_in_value(value: Any, field: descriptor.FieldDescriptor, where: str) -> str | None:
    target = field.message_type
    if target is None or target.full_name.startswith("google.protobuf."):
        return None  # scalars, enums and well-known types (timestamps) are json_format's job
    if target.GetOptions().map_entry:
        value_type = target.fields_by_name["value"].message_type
        if value_type is None or not isinstance(value, dict):
            return None
        for key, item in value.items():
            problem = unknown_field(item, value_type, f"{where}.{key}.")
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = unknown_field(item, target, f"{where}[{index}].")
            if problem:
                return problem
        return None
    return unknown_field(value, target, f"{where}.")


def _plain(value: Any) -> Any:
    # YAML turns unquoted timestamps into datetimes; the JSON mapping wants RFC 3339.
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
