"""Brand kits offered in the compose page, loaded from a YAML or JSON file.

The file maps a kit id to the fields of ``brandcast.v1.BrandKit``::

    kits:
      acme-coffee:
        name: Acme Coffee
        social_accounts: [{id: acme-x, network: SOCIAL_NETWORK_X, handle: "@acme"}]
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format

from brandcast.v1 import campaign_pb2

EXAMPLE_KITS_RESOURCE = "example_brand_kits.yaml"


class BrandKitsError(ValueError):
    """The brand kits file is unreadable or a kit is invalid; the message says which and why."""


def parse_brand_kits(text: str, source: str) -> dict[str, campaign_pb2.BrandKit]:
    try:
        document: Any = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise BrandKitsError(f"{source}: not valid YAML/JSON: {exc}") from exc
    kits = document.get("kits") if isinstance(document, dict) else None
    if not isinstance(kits, dict) or not kits:
        raise BrandKitsError(f"{source}: expected a non-empty mapping under 'kits'")
    parsed: dict[str, campaign_pb2.BrandKit] = {}
    for kit_id, fields in kits.items():
        if not isinstance(fields, dict):
            raise BrandKitsError(f"{source}: kits.{kit_id}: expected a mapping of BrandKit fields")
        try:
            kit = json_format.ParseDict(fields, campaign_pb2.BrandKit())
        except json_format.ParseError as exc:
            raise BrandKitsError(f"{source}: kits.{kit_id}: {exc}") from exc
        if not kit.name:
            raise BrandKitsError(f"{source}: kits.{kit_id}.name: required")
        account_ids = [account.id for account in kit.social_accounts]
        if len(set(account_ids)) != len(account_ids) or "" in account_ids:
            raise BrandKitsError(
                f"{source}: kits.{kit_id}.social_accounts: every account needs a unique id"
            )
        parsed[str(kit_id)] = kit
    return parsed


def load_brand_kits(path: Path | None) -> dict[str, campaign_pb2.BrandKit]:
    """Kits from ``path``, or the example kit shipped with the admin when ``path`` is None."""
    if path is None:
        text = resources.files("brandcast.admin").joinpath(EXAMPLE_KITS_RESOURCE).read_text()
        return parse_brand_kits(text, EXAMPLE_KITS_RESOURCE)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BrandKitsError(f"ADMIN_BRAND_KITS_FILE {path}: {exc.strerror}") from exc
    return parse_brand_kits(text, str(path))
