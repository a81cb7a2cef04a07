"""Zstandard-compressed message bodies on the bus (``BUS_COMPRESSION=zstd``).

A batch of 500 rendered e-mails is about 2 MB of protobuf, nearly all of it the
same branded HTML again and again; zstd at level 1 makes it about 1 % of that
for about 1 µs of CPU per e-mail (``bench/bench_bus.py``). RabbitMQ then stores
and forwards kilobytes instead of megabytes per batch.

The body is compressed the way kombu does it: the ``compression`` header names
the content type ``application/zstd`` and every kombu consumer that knows that
type (this module registers it) hands over the body already decompressed, so
Celery tasks and the receipt consumer read the same bytes as before. It is the
content type kombu's own zstd codec uses, so either end may be a kombu with
that codec instead.

A body that does not decompress is handed over as it came instead of failing
in kombu: kombu would record the error and Celery would then acknowledge
(drop) the message. As it came, it fails to parse as a batch, so the worker
rejects it to the dead-letter queue, where it can be looked at.
"""

from __future__ import annotations

import logging
import threading
from typing import Final, Literal

import zstandard
from kombu import compression

log = logging.getLogger(__name__)

#: The ``compression`` header's value (kombu's name for zstd).
ZSTD_CONTENT_TYPE: Final = "application/zstd"
#: What ``BUS_COMPRESSION`` may say.
Compression = Literal["none", "zstd"]
#: zstd's level: 1 was both faster and smaller than the default 3 on rendered
#: e-mail batches (``bench/bench_bus.py``).
LEVEL: Final = 1

# zstd contexts are not safe to share between threads (each channel's
# dispatcher thread publishes, a worker's helper threads may read), and making
# one per message costs more than compressing a small body.
_local = threading.local()


def register() -> None:
    """Teach kombu's compression registry zstd, as this module writes and reads it.
    Call before publishing or consuming compressed bodies; again does no harm
    (the registry is a dict: the same entries are written again)."""
    compression.register(compress, decompress, ZSTD_CONTENT_TYPE, aliases=["zstd"])


def header_value(setting: Compression) -> str | None:
    """kombu's ``compression`` argument for a ``BUS_COMPRESSION`` setting."""
    if setting == "none":
        return None
    register()
    return ZSTD_CONTENT_TYPE


def compress(body: bytes) -> bytes:
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=LEVEL)
    # The frame records its content size, so the reader allocates once.
    return compressor.compress(body)


def decompress(body: bytes) -> bytes:
    """``body`` decompressed; ``body`` itself when it is not a zstd frame (see above)."""
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    try:
        if zstandard.frame_content_size(body) >= 0:
            return decompressor.decompress(body)
        # A frame written by a streaming writer does not say its size.
        return decompressor.decompressobj().decompress(body)
    except zstandard.ZstdError as exc:
        log.error("a message body marked zstd does not decompress (%s): left as it came", exc)
        return body
