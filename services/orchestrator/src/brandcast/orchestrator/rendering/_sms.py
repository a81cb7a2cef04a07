"""Fitting an SMS into its segment budget without losing the opt-out, the link or a URL.

The opt-out wording and the call-to-action link are always there (appended when the text
leaves them out); other URLs stay whole; the rest is cut at a word or grapheme boundary.
Lookalike characters (curly quotes, dashes, ...) are replaced unless the campaign keeps
them. The encoding is whatever the final text needs: a cut that leaves out the one
non-GSM character gives a GSM-7 message. Losing the body, or a template that renders
nothing, is a warning of severity ERROR, which the admin shows as an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from brandcast.orchestrator.rendering._errors import RenderError, warning
from brandcast.orchestrator.rendering._fit import Span, fit_text, spans_of
from brandcast.orchestrator.rendering._links import URL_IN_TEXT
from brandcast.orchestrator.rendering._sms_encoding import replace_lookalikes
from brandcast.shared.text_counting import GSM7_ALL, MAX_SEGMENTS, count_sms, x_urls
from brandcast.v1 import variant_pb2

BUDGET_FIELD = "channels.sms.segment_budget"
# Identical texts (no personal data in the template) are fitted once.
_CACHE_SIZE = 4096
_ERROR = variant_pb2.RenderWarning.SEVERITY_ERROR


@dataclass(frozen=True)
class FittedSms:
    text: str
    encoding: variant_pb2.SmsEncoding.ValueType
    segments: int
    warnings: tuple[variant_pb2.RenderWarning, ...]


class SmsFitter:
    def __init__(self, *, budget: int, replace: bool, template_field: str) -> None:
        self.budget = min(budget, MAX_SEGMENTS)
        self._replace = replace
        self._field = template_field
        self._cache: dict[tuple[str, str, str, int], FittedSms] = {}

    def fit(self, text: str, link: str, opt_out: str, *, body_start: int = 0) -> FittedSms:
        """`text` within the budget; `body_start` is where the body begins in `text` (the
        default text opens with the brand and headline), so losing it can be told apart."""
        key = (text, link, opt_out, body_start)
        fitted = self._cache.get(key)
        if fitted is None:
            fitted = self._fit(text, link, opt_out, body_start)
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

    def _fit(self, text: str, link: str, opt_out: str, body_start: int) -> FittedSms:
        warnings: list[variant_pb2.RenderWarning] = []
        original = text
        text = self._prepare(text)
        # Replacing lookalikes can shorten the text ('…' -> '...' lengthens it): keep the
        # body's position roughly right by measuring the replaced prefix.
        body_start = len(self._prepare(original[:body_start]))
        leading = len(text) - len(text.lstrip())
        text = text.strip()
        body_start = max(0, body_start - leading)
        opt_out = self._prepare(opt_out)
        if not text:
            warnings.append(
                warning(
                    "sms.empty",
                    "the text is empty: the message would only hold the link and opt-out",
                    self._field,
                    severity=_ERROR,
                )
            )
        if link and link not in text:
            text = f"{text} {link}".strip()
        if opt_out and opt_out.lower() not in text.lower():
            text = f"{text} {opt_out}".strip()
        count = count_sms(text)
        if count.segments > self.budget:
            text = self._shorten(text, (link, opt_out), count.units, body_start, warnings)
            count = count_sms(text)
        if count.encoding == variant_pb2.SMS_ENCODING_UCS2:
            offending = [ch for ch in dict.fromkeys(text) if ch not in GSM7_ALL][:5]
            warnings.append(
                warning(
                    "sms.ucs2",
                    "sent as UCS-2 (70 characters per segment) because of "
                    + " ".join(repr(ch) for ch in offending),
                    self._field,
                )
            )
        return FittedSms(text, count.encoding, count.segments, tuple(warnings))

    def _shorten(
        self,
        text: str,
        link_and_opt_out: tuple[str, str],
        units: int,
        body_start: int,
        warnings: list[variant_pb2.RenderWarning],
    ) -> str:
        link, opt_out = link_and_opt_out
        # Protect the opt-out as written in the text, whatever its case.
        start = text.lower().rfind(opt_out.lower()) if opt_out else -1
        kept = [link, text[start : start + len(opt_out)] if start >= 0 else ""]
        urls = [Span(m.start(), m.end(), False) for m in URL_IN_TEXT.finditer(text)]
        urls += [Span(u.start, u.end, False) for u in x_urls(text)]
        first_non_gsm = next((i for i, ch in enumerate(text) if ch not in GSM7_ALL), None)
        shortened = fit_text(
            text,
            [*spans_of(text, kept, keep=True), *urls],
            lambda candidate: count_sms(candidate).segments <= self.budget,
            ellipsis="...",
            regime_breaks=() if first_non_gsm is None else (first_non_gsm + 1,),
        )
        if shortened is None:
            raise RenderError.single(
                BUDGET_FIELD, self.minimum_problem(link, opt_out) or "the text cannot fit"
            )
        if shortened.cut <= body_start:
            warnings.append(
                warning(
                    "sms.body_dropped",
                    f"the text did not fit {self.budget} segment(s): nothing of the body is "
                    "left, only the link and opt-out; shorten the text or raise the budget",
                    self._field,
                    severity=_ERROR,
                )
            )
        else:
            warnings.append(
                warning(
                    "sms.truncated",
                    f"shortened from {units} to fit {self.budget} segment(s)",
                    self._field,
                )
            )
        if shortened.dropped_urls:
            warnings.append(
                warning(
                    "sms.urls_dropped",
                    f"{shortened.dropped_urls} link(s) of the text did not fit and were left out",
                    self._field,
                    severity=_ERROR,
                )
            )
        return shortened.text
