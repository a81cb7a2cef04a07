"""E-mails put in a dispatch batch as layouts and slot values (``BUS_SHARED_EMAIL_LAYOUTS``).

The renderer gives each recipient's e-mail as its locale's layout (one object per
locale, cut at its slots) and the values of the slots; a batch carries each
layout once and each e-mail its values in the layout's slot order, which is how
the email adapter puts the bodies back together (``brandcast.shared.email_layouts``).
"""

from __future__ import annotations

from brandcast.orchestrator.rendering import LaidOutEmail, LocaleEmail
from brandcast.v1 import bus_pb2


class BatchLayouts:
    """The e-mail layouts one batch carries, each added the first time an item uses it."""

    def __init__(self, batch: bus_pb2.DispatchBatch) -> None:
        self._batch = batch
        #: id() of each layout → its index; ``_held`` keeps those ids from being reused.
        self._indexes: dict[int, int] = {}
        self._held: list[LocaleEmail] = []

    def add(self, target: bus_pb2.LaidOutEmail, email: LaidOutEmail) -> None:
        """Put ``email`` in ``target``: its layout's index and its slots' values in
        the layout's order (``brandcast.shared.email_layouts``)."""
        layout = email.layout
        index = self._indexes.get(id(layout))
        if index is None:
            index = self._indexes[id(layout)] = len(self._held)
            self._held.append(layout)
            self._batch.email_layouts.add(html_parts=layout.html, text_parts=layout.text)
        target.variant.CopyFrom(email.variant)
        target.layout = index
        html, text = email.slots.html, email.slots.text
        target.html_values.extend([html.get(name, "") for name in layout.html[1::2]])
        target.text_values.extend([text.get(name, "") for name in layout.text[1::2]])
