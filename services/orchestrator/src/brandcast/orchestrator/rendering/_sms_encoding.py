"""SMS encodings and segments as carriers count them (GSM 03.38 and UCS-2).

GSM-7 is used when every character is in the basic table or the extension table; an
extension character is sent as ESC + char and costs two septets. Otherwise the message
is UCS-2 and counts UTF-16 code units (a character outside the BMP, e.g. most emoji,
costs two). A single segment holds 160 septets or 70 units; a multipart message loses
room to the concatenation header (153 septets or 67 units per segment), and an escape
pair or a surrogate pair is never split across two segments, so a segment can end one
short of its capacity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from brandcast.v1 import variant_pb2

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

# Characters that look like a GSM-7 character (or sequence) but would silently switch a
# message to UCS-2 and cut its capacity by more than half.
LOOKALIKES: dict[str, str] = {
    **dict.fromkeys("‘’‚‛′`´", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―−", "-"),
    **dict.fromkeys("\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
                    "\u200a\u202f\u205f\u3000\t", " "),
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
    "…": "...",
    "•": "-",
    "·": "-",
    "‹": "<",
    "›": ">",
    "\u2028": "\n",
    "\u2029": "\n",
    # Greek capitals that GSM-7 lacks but that are drawn like Latin letters.
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K",
    "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}  # fmt: skip
_LOOKALIKE_TABLE = str.maketrans(LOOKALIKES)


@dataclass(frozen=True)
class SmsCount:
    encoding: variant_pb2.SmsEncoding.ValueType
    # Septets (GSM-7) or UTF-16 code units (UCS-2).
    units: int
    segments: int


_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION


def is_gsm7(text: str) -> bool:
    return _GSM7_ALL.issuperset(text)


def replace_lookalikes(text: str) -> str:
    return text.translate(_LOOKALIKE_TABLE)


def count_sms(text: str) -> SmsCount:
    """Encoding, length in units and number of segments of `text`."""
    # Set and str methods run in C; the per-character loop only runs for a multipart
    # message that holds two-unit characters, whose placement matters.
    if is_gsm7(text):
        doubles = sum(text.count(ch) for ch in GSM7_EXTENSION)
        units = len(text) + doubles
        return SmsCount(
            variant_pb2.SMS_ENCODING_GSM7,
            units,
            _segments(
                text,
                units,
                doubles,
                single=GSM7_SINGLE,
                multi=GSM7_MULTI,
                is_double=GSM7_EXTENSION.__contains__,
            ),
        )
    units = len(text.encode("utf-16-le")) // 2
    return SmsCount(
        variant_pb2.SMS_ENCODING_UCS2,
        units,
        _segments(
            text,
            units,
            units - len(text),
            single=UCS2_SINGLE,
            multi=UCS2_MULTI,
            is_double=_is_astral,
        ),
    )


def _is_astral(ch: str) -> bool:
    return ord(ch) > 0xFFFF


def _segments(
    text: str,
    units: int,
    doubles: int,
    *,
    single: int,
    multi: int,
    is_double: Callable[[str], bool],
) -> int:
    if units <= single:
        return 1
    if not doubles:
        return -(-units // multi)
    segments, used = 1, 0
    for ch in text:
        cost = 2 if is_double(ch) else 1
        # A two-unit character that does not fit whole starts the next segment.
        if used + cost > multi:
            segments += 1
            used = 0
        used += cost
    return segments
