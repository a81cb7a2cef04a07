"""The last pass over an email's HTML: safe links, tracked links, attributes escaped again.

Runs after CSS inlining, on what the inliner serialised:
- an `href` (or `action`, `formaction`, `xlink:href`) keeps only http, https, mailto and
  tel URLs (and in-page `#anchors`); anything else (`javascript:`, `data:`, `vbscript:`,
  however it is spelt, or a relative URL, which means nothing in an email) is removed,
  so a link from recipient data can never run script;
- `src`, `background` and `poster` keep http, https, `cid:` and `data:image/...`;
- every http(s) URL is encoded (IDNA host, percent-encoded path) and every link of
  `<a>` and `<area>` gets the channel's UTM parameters;
- `<script>` elements and `on...` event handler attributes are dropped;
- every attribute value is escaped again (`&`, `<`, `>`, quotes): the inliner writes a
  value such as `&lt;script&gt;` back as a raw `<script>`, which is valid HTML but
  what a naive filter downstream may mistake for a tag.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from brandcast.orchestrator.rendering._links import SIMPLE_HTTP_URL, Utm, encode_url

_LINK_ATTRIBUTES = frozenset({"href", "action", "formaction", "xlink:href"})
_MEDIA_ATTRIBUTES = frozenset({"src", "background", "poster"})
_LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_MEDIA_SCHEMES = frozenset({"http", "https", "cid"})
_TRACKED_TAGS = frozenset({"a", "area"})
_DROPPED_ELEMENTS = frozenset({"script"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers ignore ASCII control characters and spaces inside a URL's scheme.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20]")


def safe_url(attribute: str, value: str, *, tag: str, utm: Utm | None) -> str | None:
    """The value an URL attribute may keep (encoded, maybe tracked), or None to drop it."""
    if utm is None and SIMPLE_HTTP_URL.fullmatch(value):
        return value  # the common case, per recipient (unsubscribe links)
    compact = _IGNORED_IN_SCHEME.sub("", value)
    match = _SCHEME.match(compact)
    if match is None:
        # An in-page anchor; a relative path means nothing in an email (no base URL).
        return value if compact.startswith("#") else None
    scheme = match.group(1).lower()
    if attribute in _LINK_ATTRIBUTES:
        allowed = scheme in _LINK_SCHEMES
    else:
        allowed = scheme in _MEDIA_SCHEMES or compact.lower().startswith("data:image/")
    if not allowed:
        return None
    if scheme not in ("http", "https"):
        return value.strip()
    try:
        url = value.strip()
        if utm is not None and tag in _TRACKED_TAGS and attribute == "href":
            return utm.apply(url)
        return encode_url(url)
    except ValueError:
        return None  # a malformed URL (an unclosed IPv6 bracket, ...) is no link


class _LinkRewriter(HTMLParser):
    def __init__(self, utm: Utm | None) -> None:
        super().__init__(convert_charrefs=False)
        self._utm = utm
        self._out: list[str] = []
        self._dropping: str | None = None

    def result(self) -> str:
        self.close()
        return "".join(self._out)

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], end: str) -> str:
        parts = [f"<{tag}"]
        for name, raw in attrs:
            if name.startswith("on"):
                continue
            value = raw
            if raw is not None and (name in _LINK_ATTRIBUTES or name in _MEDIA_ATTRIBUTES):
                value = safe_url(name, raw, tag=tag, utm=self._utm)
                if value is None:
                    continue
            if value is None:
                parts.append(f" {name}")
            else:
                parts.append(f' {name}="{html.escape(value, quote=True)}"')
        return "".join(parts) + end

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_ELEMENTS:
            self._dropping = tag
            return
        if self._dropping is None:
            self._out.append(self._tag(tag, attrs, ">"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._dropping is None and tag not in _DROPPED_ELEMENTS:
            self._out.append(self._tag(tag, attrs, "/>"))

    def handle_endtag(self, tag: str) -> None:
        if self._dropping is not None:
            if tag == self._dropping:
                self._dropping = None
            return
        self._out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._dropping is None:
            self._out.append(data)

    def handle_entityref(self, name: str) -> None:
        if self._dropping is None:
            self._out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        if self._dropping is None:
            self._out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        if self._dropping is None:
            self._out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self._out.append(f"<!{decl}>")

    def unknown_decl(self, data: str) -> None:
        self._out.append(f"<![{data}]>")

    def handle_pi(self, data: str) -> None:
        pass  # processing instructions have no place in an email


def rewrite_links(document: str, utm: Utm | None) -> str:
    """`document` (inlined HTML) with safe, encoded, tracked links and escaped attributes."""
    rewriter = _LinkRewriter(utm)
    rewriter.feed(document)
    return rewriter.result()
