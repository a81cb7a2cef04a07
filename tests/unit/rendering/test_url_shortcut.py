"""``encode_url``'s shortcut for URLs that need nothing done (``SIMPLE_HTTP_URL``,
taken per recipient for unsubscribe links) gives what the full path gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from brandcast.orchestrator.rendering._links import (
    SIMPLE_HTTP_URL,
    encode_url,
    encode_url_in_full,
)

_HOST = st.text(alphabet="abcxyz0189.-", min_size=1, max_size=12)
_PORT = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=70_000).map(str),
    st.tuples(st.integers(0, 3), st.integers(0, 99_999)).map(lambda z: "0" * z[0] + str(z[1])),
    st.sampled_from(["", "+80", "8o", "-1", "65535", "65536", "99999", "00000065535"]),
)
_REST = st.text(alphabet="/?#=&.%_~-aZ09 ü<>\"'[]:@!$", max_size=20)


def _outcome(encode: object, url: str) -> str:
    try:
        return encode(url)  # type: ignore[operator, no-any-return]
    except ValueError:
        return "ValueError"


@given(st.sampled_from(["http", "https"]), _HOST, _PORT, _REST)
def test_the_shortcut_agrees_with_the_full_encoding(
    scheme: str, host: str, port: str | None, rest: str
) -> None:
    url = f"{scheme}://{host}{'' if port is None else ':' + port}{rest}"
    assert _outcome(encode_url, url) == _outcome(encode_url_in_full, url)


def test_local_addresses_with_long_ports_take_the_shortcut() -> None:
    # Development stacks serve unsubscribe pages on ephemeral ports: per recipient,
    # those links skipped the shortcut when it stopped at four digits.
    assert SIMPLE_HTTP_URL.fullmatch("http://127.0.0.1:41234/unsubscribe/eyJh.x-_Y")
    assert SIMPLE_HTTP_URL.fullmatch("http://127.0.0.1:65535/u")
    assert not SIMPLE_HTTP_URL.fullmatch("http://127.0.0.1:65536/u")
    assert not SIMPLE_HTTP_URL.fullmatch("http://127.0.0.1:99999/u")
