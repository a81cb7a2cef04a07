"""URLs as X finds them in a post (twitter-text 3's extraction rules), each counted 23.

A URL needs no scheme: "acme.shop" is a URL when its top-level domain is in X's own
list (x_tlds.txt, the list twitter-text 3.1 ships). Without a scheme only the ASCII part of
a domain counts; the path stops at the first character X does not allow in one, so an
accented or Cyrillic path goes on but a Chinese one ends the URL. These are X's rules
(the same classes and order), written here so that a post is measured as X will.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from importlib.resources import files
from typing import Any, NamedTuple

import regex

MAX_URL_LENGTH = 4096
MAX_TCO_SLUG_LENGTH = 40
MAX_DOMAIN_LABEL_LENGTH = 63

_INVALID = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066\u2067\u2068\u2069"
_PUNCT = r"!'#%&'()*+,\\\-./:;<=>?@\[\]^_{|}~$"
SPACES = "\x09-\x0d\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    "\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"


class FoundUrl(NamedTuple):
    start: int
    end: int
    url: str


@cache
def _tlds(name: str) -> tuple[str, ...]:
    text = files("brandcast.shared.text_counting").joinpath(name).read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return tuple(sorted((t for t in lines if t and not t.startswith("#")), key=len, reverse=True))


def _trie(words: Iterable[str]) -> str:
    """A pattern matching any of `words`, the longest possible first."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict[str, Any]) -> str:
        branches = [regex.escape(ch) + pattern(child) for ch, child in node.items() if ch]
        if not branches:
            return ""
        group = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" not in node:
            return group
        return f"(?:{group})?"

    return pattern(root)


@cache
def _patterns() -> tuple[regex.Pattern[str], regex.Pattern[str], regex.Pattern[str]]:
    # X's 1,574 TLDs as a trie ("c(?:o(?:m(?:munity)?|op)?|...)"): the same matches as
    # their alternation, longest first, in a few steps instead of 1,574 tries at every
    # place a domain may end.
    tld = f"(?:{_trie(_tlds('x_tlds.txt'))}|xn--[\\-0-9a-z]+)(?=[^0-9a-zA-Z@+-]|$)"
    domain_char = f"[^{_PUNCT}{SPACES}{_INVALID}{_DIRECTIONAL}]"
    subdomain = f"(?:(?:{domain_char}(?:[_-]|{domain_char})*)?{domain_char}\\.)"
    domain_name = f"(?:(?:{domain_char}(?:-|{domain_char})*)?{domain_char}\\.)"
    domain = f"(?:{subdomain}*{domain_name}{tld})"
    path_char = f"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\\[\\]\\-\\u2013_~@|&{_LATIN_ACCENTS}]"
    parens = f"\\((?:{path_char}+|(?:{path_char}*\\({path_char}+\\){path_char}*))\\)"
    path_end = f"[+\\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]"
    # As twitter-text composes it: its ending-character pattern is "class|(parens)" pasted
    # ungrouped, so balanced parentheses alone are a path piece of their own ("/(b)"),
    # while "/.(b)" ends the URL at the slash.
    path = (
        f"(?:(?:{path_char}*(?:{parens}{path_char}*)*{path_end}|(?:{parens}))|(?:@{path_char}+/))"
    )
    query_char = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
    query_end = r"[a-z0-9\-_&=#/]"
    preceding = f"(?:[^A-Za-z0-9@＠$#＃{_INVALID}]|[{_DIRECTIONAL}]|^)"
    url = regex.compile(
        f"({preceding})"  # 1: the character before
        f"((https?://)?"  # 2: the URL, 3: its scheme
        f"({domain})"  # 4: the domain
        f"(?::([0-9]+))?"  # 5: the port
        f"(/{path}*)?"  # 6: the path
        f"(\\?{query_char}*{query_end})?)",  # 7: the query
        regex.IGNORECASE | regex.VERSION0,
    )
    ascii_domain = regex.compile(
        f"(?:(?:[\\-a-z0-9{_LATIN_ACCENTS}]+)\\.)+{tld}", regex.IGNORECASE | regex.VERSION0
    )
    tco = regex.compile(
        f"^https?://t\\.co/([a-z0-9]+)(?:\\?{query_char}*{query_end})?", regex.IGNORECASE
    )
    return url, ascii_domain, tco


def x_urls(text: str) -> list[FoundUrl]:
    """The URLs X links in `text`, with their code point offsets."""
    if "." not in text:
        return []
    found: list[FoundUrl] = []
    # A run's URLs depend on its text alone (and the space before it): a text that repeats
    # its words ("a.com, " * 8000) is searched once per distinct run.
    searched: dict[str, list[FoundUrl]] = {}
    for start, end in _searched_runs(text):
        run = text[start:end]
        in_run = searched.get(run)
        if in_run is None:
            in_run = searched[run] = _urls_in(run)
        found.extend(FoundUrl(start + u.start, start + u.end, u.url) for u in in_run)
    return found


def _urls_in(run: str) -> list[FoundUrl]:
    """The URLs of one run of non-space characters, offsets within it. `run` starts with
    the space before it, if any: the pattern reads the character before a URL (a space
    there matches as well as the start of the text, so slicing changes nothing)."""
    url_pattern, ascii_domain, tco = _patterns()
    found: list[FoundUrl] = []
    for match in url_pattern.finditer(run):
        before, url, scheme, domain, path = (match.group(i) for i in (1, 2, 3, 4, 6))
        end = match.end()
        start = end - len(url)
        if not _valid_length(url, scheme or "https://", domain):
            continue
        if not scheme:
            if before and before[-1] in "-_./":
                continue
            last: FoundUrl | None = None
            for part in ascii_domain.finditer(domain):
                last = FoundUrl(start + part.start(), start + part.end(), part.group(0))
                found.append(last)
            if last is None:
                continue
            if path:
                found[-1] = FoundUrl(last.start, end, url.replace(domain, last.url, 1))
            continue
        short = tco.match(url)
        if short:
            if len(short.group(1)) > MAX_TCO_SLUG_LENGTH:
                continue
            url = short.group(0)
            end = start + len(url)
        found.append(FoundUrl(start, end, url))
    return found


# No part of a URL (scheme, domain, port, path, query) holds a space, so a URL lies within
# one run of non-space characters holding a dot followed by what may start a top-level
# domain; the search runs on those runs only (with the character before each, which the
# pattern reads), instead of trying the long pattern at every position of the text.
# A run longer than MAX_SEARCHED_RUN is measured as plain text, unsearched: the search
# can cost time quadratic in its length ("b.b.b.b..."), and as plain text such a run weighs
# more than X's limit of 280 anyway, so whether a post fits is never decided looser than X
# would (only a post with a URL over 500 characters is measured stricter than X does).
_DOT_BEFORE_DOMAIN = regex.compile(f"\\.[^{_PUNCT}{SPACES}]")
_SPACE = regex.compile(f"[{SPACES}]")
_SPACE_BEFORE = regex.compile(f"[{SPACES}]", regex.REVERSE)
MAX_SEARCHED_RUN = 500
# What follows a dot: an ASCII top-level domain is all of it (X's pattern wants no letter,
# digit or hyphen after one); a non-ASCII one starts with a non-ASCII character.
_LABEL_AFTER_DOT = regex.compile(r"\.([A-Za-z0-9\-]*)")


@cache
def _ascii_tlds() -> frozenset[str]:
    return frozenset(t for t in _tlds("x_tlds.txt") if t.isascii())


def _may_hold_url(text: str, start: int, end: int) -> bool:
    """False when no dot of the run is followed by something a top-level domain can be."""
    tlds = _ascii_tlds()
    for match in _LABEL_AFTER_DOT.finditer(text, start, end):
        label = match.group(1).lower()
        if label in tlds or label.startswith("xn--"):
            return True
        if not label and match.end() < end and not text[match.end()].isascii():
            return True
    return False


def _searched_runs(text: str) -> Iterator[tuple[int, int]]:
    """The runs worth searching, each from the space before it (or the text's start)."""
    searched_to = 0
    for dot in _DOT_BEFORE_DOMAIN.finditer(text):
        if dot.start() < searched_to:
            continue  # in a run already searched
        before = _SPACE_BEFORE.search(text, 0, dot.start())
        after = _SPACE.search(text, dot.start())
        start = before.end() if before else 0
        end = after.start() if after else len(text)
        searched_to = end
        if end - start <= MAX_SEARCHED_RUN and _may_hold_url(text, start, end):
            yield max(0, start - 1), end


def _valid_length(url: str, scheme: str, domain: str) -> bool:
    if domain.lower().startswith("xn--") and not _patterns()[1].search(domain):
        return False
    for label in domain.split("."):
        try:
            encoded = label if label.isascii() else "xn--" + label.encode("punycode").decode()
        except UnicodeError:
            return False
        if not 1 <= len(encoded) <= MAX_DOMAIN_LABEL_LENGTH:
            return False
    return len(scheme) + len(url) <= MAX_URL_LENGTH
