"""Audiences of any size as a stream of chunks: from a list, a generator or a CSV file.

Only one chunk is held at a time, so memory stays flat however many recipients
there are. A recipient is a ``campaign_pb2.Recipient`` or a mapping of its fields
(``{"id": "r1", "email": "ada@example.com", "attributes": {...}}``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeAlias

from brandcast.v1 import campaign_pb2

RecipientLike: TypeAlias = campaign_pb2.Recipient | Mapping[str, Any]

#: Recipients per stream message: ~100 KB for typical recipients, far below the
#: server's message limit, and few enough messages that the per-message cost is small.
DEFAULT_CHUNK_SIZE: Final = 1000

_FIELDS: Final = frozenset(campaign_pb2.Recipient.DESCRIPTOR.fields_by_name)


class CsvAudience:
    """Recipients read from a CSV file with a header row, one row at a time.

    Columns named like ``Recipient`` fields (``id``, ``email``, ``phone``, ``name``,
    ``locale``, ``timezone``, ``segment``) fill those; every other column becomes an
    attribute. The file is opened again on each iteration, so a submit that has to
    be retried can send it again.
    """

    def __init__(self, path: str | Path, *, encoding: str = "utf-8-sig") -> None:
        self.path = Path(path)
        self.encoding = encoding

    def __iter__(self) -> Iterator[campaign_pb2.Recipient]:
        with self.path.open(newline="", encoding=self.encoding) as file:
            for row in csv.DictReader(file):
                recipient = campaign_pb2.Recipient()
                for column, value in row.items():
                    if column is None or value is None:
                        raise ValueError(f"{self.path}: row {row} has more cells than the header")
                    name = column.strip()
                    if name in _FIELDS and name != "attributes":
                        setattr(recipient, name, value.strip())
                    elif name and value != "":
                        recipient.attributes[name] = value
                yield recipient


def read_csv(path: str | Path) -> CsvAudience:
    """An audience read from ``path`` (see :class:`CsvAudience`)."""
    return CsvAudience(path)


def replayable(audience: Iterable[RecipientLike]) -> bool:
    """Whether iterating ``audience`` again yields the same recipients (so a retry may resend)."""
    return isinstance(audience, Sequence | CsvAudience)


def to_recipient(item: RecipientLike, index: int) -> campaign_pb2.Recipient:
    if isinstance(item, campaign_pb2.Recipient):
        return item
    if not isinstance(item, Mapping):
        raise TypeError(f"audience[{index}]: expected a Recipient or a mapping, got {type(item)}")
    unknown = set(item) - _FIELDS
    if unknown:
        raise ValueError(
            f"audience[{index}]: no Recipient field {sorted(unknown)[0]!r}; "
            f"fields are {', '.join(sorted(_FIELDS))}"
        )
    return campaign_pb2.Recipient(**item)


def chunks(
    audience: Iterable[RecipientLike], size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[list[campaign_pb2.Recipient]]:
    """Lists of at most ``size`` recipients, built as the audience is read."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    chunk: list[campaign_pb2.Recipient] = []
    for index, item in enumerate(audience):
        chunk.append(to_recipient(item, index))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
