"""Lookalike characters: what would silently switch an SMS to UCS-2, and their GSM-7 twins.

The counting itself (encodings, units, segments as Twilio counts them) is shared with the
adapters: `brandcast.shared.text_counting.count_sms`.
"""

from __future__ import annotations

# Characters that look like a GSM-7 character (or sequence) but would silently switch a
# message to UCS-2 and cut its capacity by more than half.
LOOKALIKES: dict[str, str] = {
    **dict.fromkeys("‘’‚‛′`´", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―−", "-"),
    **dict.fromkeys("\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
                    "\u200a\u202f\u205f\u3000\t", " "),
    # Invisible: dropped. ZWJ and ZWNJ are not: they hold emoji sequences and scripts together.
    **dict.fromkeys("\u200b\u2060\ufeff\u00ad", ""),
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


def replace_lookalikes(text: str) -> str:
    return text.translate(_LOOKALIKE_TABLE)
