"""DKIM signatures for mail the adapter hands to SMTP servers (dkimpy)."""

from __future__ import annotations

from pathlib import Path

import dkim

from brandcast.shared.errors import PermanentProviderError

#: Signed headers. RFC 8058 requires List-Unsubscribe and List-Unsubscribe-Post to be
#: covered so a one-click URL cannot be swapped in transit.
SIGNED_HEADERS: tuple[bytes, ...] = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)


class DkimSigner:
    def __init__(self, *, selector: str, domain: str, private_key: bytes) -> None:
        if not selector or not domain or not private_key:
            raise ValueError("DKIM needs a selector, a domain and a private key")
        self.selector = selector
        self.domain = domain.lower()
        self._key = private_key

    @classmethod
    def from_file(cls, path: Path, *, selector: str, domain: str) -> DkimSigner:
        try:
            key = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"EMAIL_DKIM_PRIVATE_KEY_FILE: cannot read {path}: {exc}") from exc
        if b"PRIVATE KEY" not in key:
            raise ValueError(f"EMAIL_DKIM_PRIVATE_KEY_FILE: {path} is not a PEM private key")
        signer = cls(selector=selector, domain=domain, private_key=key)
        try:
            # Fail at start, not on every message, when the key is unusable.
            signer.sign(b"From: check@" + domain.encode() + b"\r\nSubject: check\r\n\r\ncheck\r\n")
        except PermanentProviderError as exc:
            raise ValueError(f"EMAIL_DKIM_PRIVATE_KEY_FILE: {exc.message}") from exc
        return signer

    def sign(self, raw: bytes) -> bytes:
        """``raw`` with a ``DKIM-Signature`` header prepended (relaxed/relaxed)."""
        present = {
            line.split(b":", 1)[0].strip().lower()
            for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            if line and not line[:1].isspace()
        }
        try:
            signature = dkim.sign(
                raw,
                self.selector.encode(),
                self.domain.encode(),
                self._key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[h for h in SIGNED_HEADERS if h in present],
            )
        except (dkim.DKIMException, ValueError) as exc:  # bad keys raise binascii.Error too
            # A broken key fails every message: not something a retry fixes.
            raise PermanentProviderError("dkim_error", f"DKIM signing failed: {exc}") from exc
        return bytes(signature) + raw
