"""The embedded broker: kombu's filesystem transport, with messages that appear whole.

kombu's filesystem transport creates a message's file in the queue folder and
only then writes it, while a consumer takes any file it finds there: moved
aside, read, deleted. A consumer that comes between the two reads an empty
message; kombu then fails to decode it, and the message, already deleted, is
gone (seen: a demo whose SMS delivery report never reached the orchestrator,
which then waited for it until the report window closed). Here each message is
written aside, under a name no queue matches, and renamed into place, which
is atomic: a consumer sees nothing or the whole message.

``filesystem://`` URLs keep working unchanged: :func:`register` points kombu's
alias at this transport (``brandcast.shared.bus`` calls it on import).
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

#: kombu's name of the transport, the scheme of ``BROKER_URL``.
ALIAS = "filesystem"


class Channel(filesystem.Channel):  # type: ignore[misc] # kombu ships no types
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Put ``payload`` on ``queue``: written aside, then renamed into place."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A name kombu's consumer never takes: it takes "<anything>.<queue>.msg"
        # by the text after the first dot, and this one starts with a dot.
        draft = os.path.join(self.data_folder_out, f".{uuid.uuid4().hex}.draft")
        try:
            with open(draft, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(draft, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):  # type: ignore[misc]
    Channel = Channel


def register() -> None:
    """Make ``filesystem://`` mean this transport in this process."""
    TRANSPORT_ALIASES[ALIAS] = f"{__name__}:Transport"
