"""Fitting an SMS into its segment budget without losing the link or the opt-out wording."""

from __future__ import annotations

from dataclasses import dataclass

from brandcast.orchestrator.rendering._errors import RenderError, warning
from brandcast.orchestrator.rendering._fit import shorten
from brandcast.orchestrator.rendering._sms_encoding import count_sms, replace_lookalikes
from brandcast.v1 import variant_pb2

BUDGET_FIELD = "channels.sms.segment_budget"
# Identical texts (no personal data in the template) are fitted once.
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class FittedSms:
    text: str
    encoding: variant_pb2.SmsEncoding.ValueType
    segments: int
    warnings: tuple[variant_pb2.RenderWarning, ...]


class SmsFitter:
    def __init__(self, *, budget: int, replace: bool, template_field: str) -> None:
        self.budget = budget
        self._replace = replace
        self._field = template_field
        self._cache: dict[tuple[str, str, str], FittedSms] = {}

    def fit(self, text: str, link: str, opt_out: str) -> FittedSms:
        key = (text, link, opt_out)
        fitted = self._cache.get(key)
        if fitted is None:
            fitted = self._fit(text, link, opt_out)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = fitted
        return fitted

    def minimum_problem(self, link: str, opt_out: str) -> str | None:
        """Why even the link and the opt-out wording alone cannot fit the budget."""
        bare = self._prepare(" ".join(p for p in (link, opt_out) if p))
        count = count_sms(bare)
        if count.segments <= self.budget:
            return None
        return (
            f"the link and opt-out text alone take {count.segments} segments, "
            f"over the budget of {self.budget}"
        )

    def _prepare(self, text: str) -> str:
        return replace_lookalikes(text) if self._replace else text

    def _fit(self, text: str, link: str, opt_out: str) -> FittedSms:
        text = self._prepare(text.strip())
        opt_out = self._prepare(opt_out)
        if link and link not in text:
            text = f"{text} {link}".strip()
        if opt_out and opt_out.lower() not in text.lower():
            text = f"{text} {opt_out}".strip()
        warnings: list[variant_pb2.RenderWarning] = []
        count = count_sms(text)
        if count.segments > self.budget:
            # Protect the opt-out as written in the text, whatever its case.
            start = text.lower().rfind(opt_out.lower()) if opt_out else -1
            protected = [link, text[start : start + len(opt_out)] if start >= 0 else ""]
            shortened = shorten(
                text,
                protected,
                lambda candidate: count_sms(candidate).segments <= self.budget,
                ellipsis="...",
            )
            if shortened is None:
                raise RenderError.single(
                    BUDGET_FIELD, self.minimum_problem(link, opt_out) or "the text cannot fit"
                )
            warnings.append(
                warning(
                    "sms.truncated",
                    f"shortened from {count.units} to fit {self.budget} segment(s)",
                    self._field,
                )
            )
            text = shortened
            count = count_sms(text)
        if count.encoding == variant_pb2.SMS_ENCODING_UCS2:
            offending = sorted({ch for ch in text if count_sms(ch).encoding != 1})[:5]
            warnings.append(
                warning(
                    "sms.ucs2",
                    "sent as UCS-2 (70 characters per segment) because of "
                    + " ".join(repr(ch) for ch in offending),
                    self._field,
                )
            )
        return FittedSms(text, count.encoding, count.segments, tuple(warnings))
