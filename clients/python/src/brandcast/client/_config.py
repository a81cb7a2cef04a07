"""Where the orchestrator is and how to talk to it: address, TLS, token, deadlines, retries.

Every value can come from an argument or, when the argument is left out, from the
environment: ``BRANDCAST_ADDRESS``, ``BRANDCAST_TOKEN`` and ``BRANDCAST_TLS_CA``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import grpc

from brandcast.client._retry import RetryPolicy

#: The orchestrator's port when an address names none.
DEFAULT_PORT: Final = 50051
DEFAULT_ADDRESS: Final = f"127.0.0.1:{DEFAULT_PORT}"
#: Seconds a unary call may take before DEADLINE_EXCEEDED, unless the call says otherwise.
DEFAULT_TIMEOUT: Final = 30.0

ADDRESS_ENV: Final = "BRANDCAST_ADDRESS"
TOKEN_ENV: Final = "BRANDCAST_TOKEN"  # noqa: S105 - the variable's name, not a token
TLS_CA_ENV: Final = "BRANDCAST_TLS_CA"


def with_default_port(address: str) -> str:
    """``host`` → ``host:50051``; ``host:port``, ``[v6]:port`` and ``unix:`` targets unchanged.

    grpc itself would dial 443 for a bare host, which is never the orchestrator.
    """
    address = address.strip()
    if not address or address.startswith(("unix:", "unix-abstract:")):
        return address
    if address.startswith("["):  # [::1] or [::1]:50051
        return address if "]:" in address else f"{address}:{DEFAULT_PORT}"
    if address.count(":") > 1:  # a bare IPv6 address
        return f"[{address}]:{DEFAULT_PORT}"
    host, _, port = address.rpartition(":")
    return address if host and port.isdigit() else f"{address.rstrip(':')}:{DEFAULT_PORT}"


@dataclass(frozen=True)
class ClientConfig:
    """How a :class:`~brandcast.client.Client` connects and behaves.

    ``tls_ca`` (a PEM file of trusted roots) turns TLS on; ``tls=True`` turns it on
    with the system's roots. ``token`` is sent as ``authorization: Bearer <token>``.
    ``timeout`` is the default deadline of each unary call, in seconds.
    """

    address: str = DEFAULT_ADDRESS
    token: str = ""
    tls_ca: Path | None = None
    tls: bool = False
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Extra channel options, e.g. ``(("grpc.max_receive_message_length", 32 << 20),)``.
    channel_options: tuple[tuple[str, int | str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", with_default_port(self.address))
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    @classmethod
    def resolve(
        cls,
        address: str | None = None,
        *,
        token: str | None = None,
        tls_ca: str | Path | None = None,
        tls: bool | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Arguments first, then the ``BRANDCAST_*`` environment, then the defaults."""
        env = os.environ if env is None else env
        ca = tls_ca if tls_ca is not None else env.get(TLS_CA_ENV) or None
        return cls(
            address=address or env.get(ADDRESS_ENV) or DEFAULT_ADDRESS,
            token=token if token is not None else env.get(TOKEN_ENV, ""),
            tls_ca=Path(ca) if ca else None,
            tls=bool(ca) if tls is None else tls,
            timeout=timeout or DEFAULT_TIMEOUT,
            retry=retry or RetryPolicy(),
        )

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.tls_ca is not None

    def metadata(self) -> tuple[tuple[str, str], ...]:
        # Sent per call rather than as call credentials: grpc refuses those on a
        # plaintext channel, and loopback deployments run without TLS.
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials, or None for a plaintext channel."""
        if not self.uses_tls:
            return None
        roots = self.tls_ca.read_bytes() if self.tls_ca is not None else None
        return grpc.ssl_channel_credentials(root_certificates=roots)

    def describe(self) -> str:
        return f"{self.address} ({'TLS' if self.uses_tls else 'plaintext'})"
