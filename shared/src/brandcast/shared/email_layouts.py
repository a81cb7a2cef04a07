"""E-mail layouts sent once per dispatch batch, and the e-mails made from them.

A campaign's e-mails share one branded, CSS-inlined layout per locale; only a few
places differ between recipients (the preheader, the unsubscribe link, a
personal content block). Rendered whole, a batch of 1,000 carries 1,000 copies
of the layout: megabytes the orchestrator builds, copies and serialises while it
holds its interpreter lock, and an adapter parses again. With the orchestrator's
``BUS_SHARED_EMAIL_LAYOUTS`` on, a batch carries each layout once, cut at its
slots, and each item only its slots' values (``bus.proto``: ``EmailLayout``,
``LaidOutEmail``).

The email adapter puts an e-mail's bodies together when it sends it
(:func:`bodies`), from layouts read once per batch. Written back into the
protobuf item instead, every body would be copied in and read out again.
Tools that show or replay a batch use :func:`expand`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from brandcast.v1 import bus_pb2

#: Batches whose layouts are kept read: a worker works on one batch at a time
#: per process (its helper threads share that one), so a few are plenty.
CACHED_BATCHES: Final = 8


class Layout:
    """One document cut at its slots (text, slot name, text, ..., text), ready to
    be filled many times."""

    __slots__ = ("_parts", "slot_names")

    def __init__(self, parts: Sequence[str]) -> None:
        if len(parts) % 2 == 0:
            raise ValueError("a layout's parts must begin and end with text")
        self._parts = list(parts)
        #: The slots in the order their values come.
        self.slot_names: tuple[str, ...] = tuple(parts[1::2])

    def fill(self, values: Sequence[str]) -> str:
        """The document with one value per slot, in ``slot_names`` order."""
        if len(values) != len(self.slot_names):
            raise ValueError(f"{len(values)} values for a layout of {len(self.slot_names)} slots")
        pieces = self._parts.copy()
        pieces[1::2] = values
        return "".join(pieces)


_Layouts = list[tuple[Layout, Layout]]
#: id() of a batch → the batch and its layouts, read. Held, the batch keeps its id
#: from being reused; the worker parses each message into a batch of its own and
#: never changes its layouts, so the same batch means the same layouts.
_cache: OrderedDict[int, tuple[bus_pb2.DispatchBatch, _Layouts]] = OrderedDict()
_cache_lock = threading.Lock()


def _layouts(batch: bus_pb2.DispatchBatch) -> _Layouts:
    # Read without the lock (a dict lookup is atomic): once per e-mail.
    found = _cache.get(id(batch))
    if found is not None and found[0] is batch:
        return found[1]
    read = [
        (Layout(layout.html_parts), Layout(layout.text_parts)) for layout in batch.email_layouts
    ]
    with _cache_lock:
        _cache[id(batch)] = (batch, read)
        while len(_cache) > CACHED_BATCHES:
            _cache.popitem(last=False)
    return read


def bodies(batch: bus_pb2.DispatchBatch, email: bus_pb2.LaidOutEmail) -> tuple[str, str]:
    """The HTML and text bodies of ``email``, an item of ``batch``.

    ``ValueError`` when it names a layout the batch does not carry or brings
    the wrong number of values.
    """
    layouts = _layouts(batch)
    if email.layout >= len(layouts):
        raise ValueError(
            f"the e-mail uses layout {email.layout}, but its batch carries {len(layouts)}"
        )
    html, text = layouts[email.layout]
    return html.fill(email.html_values), text.fill(email.text_values)


def expand(batch: bus_pb2.DispatchBatch) -> None:
    """Make every ``laid_out_email`` item of ``batch`` a whole ``email`` item, in
    place, and drop the layouts: for tools that show or replay a batch.

    ``ValueError`` names an item :func:`bodies` cannot put together.
    """
    for item in batch.items:
        if item.WhichOneof("variant") != "laid_out_email":
            continue
        laid_out = item.laid_out_email
        try:
            html, text = bodies(batch, laid_out)
        except ValueError as exc:
            raise ValueError(f"item {item.delivery_id}: {exc}") from exc
        # Serialised, not copied: the variant is small (it has no bodies), and
        # setting the oneof's other member clears laid_out_email.
        rest = laid_out.variant.SerializeToString()
        whole = item.email
        whole.SetInParent()
        whole.MergeFromString(rest)
        whole.html = html
        whole.text = text
    del batch.email_layouts[:]
