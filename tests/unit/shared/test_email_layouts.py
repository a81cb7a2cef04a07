"""Laid-out e-mails on the bus (``BUS_SHARED_EMAIL_LAYOUTS``): the adapter's side."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brandcast.shared import email_layouts
from brandcast.shared.email_layouts import Layout
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2

TEXT = st.text(st.characters(codec="utf-8"), max_size=30)


def laid_out_batch(batch_id: str = "b1") -> bus_pb2.DispatchBatch:
    batch = bus_pb2.DispatchBatch(
        batch_id=batch_id, campaign_id="c1", channel=campaign_pb2.CHANNEL_EMAIL
    )
    batch.email_layouts.add(
        html_parts=["<p>", "preheader", "</p><a>", "unsubscribe", "</a>"],
        text_parts=["Hello\n", "unsubscribe", "\n"],
    )
    batch.email_layouts.add(html_parts=["<p>fr</p>"], text_parts=["fr"])
    item = batch.items.add(delivery_id="d1", address="a@example.com")
    item.laid_out_email.variant.CopyFrom(
        variant_pb2.EmailVariant(subject="Hi", from_address="news@acme.example")
    )
    item.laid_out_email.layout = 0
    item.laid_out_email.html_values.extend(["Spring &amp; more", "Unsubscribe"])
    item.laid_out_email.text_values.append("Unsubscribe: https://u.example/t")
    french = batch.items.add(delivery_id="d2", address="b@example.com")
    french.laid_out_email.variant.subject = "Salut"
    french.laid_out_email.layout = 1
    batch.items.add(delivery_id="d3").email.html = "<p>whole</p>"
    return batch


@given(st.lists(TEXT, min_size=1, max_size=6).filter(lambda p: len(p) % 2 == 1), st.data())
def test_a_layout_interleaves_its_text_with_the_values(
    parts: list[str], data: st.DataObject
) -> None:
    layout = Layout(parts)
    values = data.draw(st.lists(TEXT, min_size=len(parts) // 2, max_size=len(parts) // 2))
    expected = "".join(part if i % 2 == 0 else values[i // 2] for i, part in enumerate(parts))
    assert layout.fill(values) == expected
    assert layout.slot_names == tuple(parts[1::2])


def test_a_layout_refuses_the_wrong_number_of_values() -> None:
    layout = Layout(["a", "x", "b", "y", "c"])
    with pytest.raises(ValueError, match="1 values for a layout of 2 slots"):
        layout.fill(["only one"])
    with pytest.raises(ValueError, match="begin and end with text"):
        Layout(["a", "x"])


def test_bodies_put_each_email_together_from_its_own_layout() -> None:
    batch = laid_out_batch()
    assert email_layouts.bodies(batch, batch.items[0].laid_out_email) == (
        "<p>Spring &amp; more</p><a>Unsubscribe</a>",
        "Hello\nUnsubscribe: https://u.example/t\n",
    )
    assert email_layouts.bodies(batch, batch.items[1].laid_out_email) == ("<p>fr</p>", "fr")


def test_layouts_read_for_one_batch_are_not_used_for_another() -> None:
    first = laid_out_batch("same-shape-1")
    second = laid_out_batch("same-shape-2")
    second.email_layouts[0].html_parts[0] = "<div>"
    email_layouts.bodies(first, first.items[0].laid_out_email)
    html, _ = email_layouts.bodies(second, second.items[0].laid_out_email)
    assert html.startswith("<div>Spring")


def test_a_batch_without_the_named_layout_is_refused() -> None:
    batch = laid_out_batch("short")
    batch.items[1].laid_out_email.layout = 2
    with pytest.raises(ValueError, match="uses layout 2, but its batch carries 2"):
        email_layouts.bodies(batch, batch.items[1].laid_out_email)
    with pytest.raises(ValueError, match="item d2: the e-mail uses layout 2"):
        email_layouts.expand(batch)


def test_expand_makes_every_laid_out_item_whole_and_leaves_the_rest() -> None:
    batch = laid_out_batch("expand")
    email_layouts.expand(batch)
    assert not batch.email_layouts
    assert [item.WhichOneof("variant") for item in batch.items] == ["email"] * 3
    first = batch.items[0].email
    assert (first.subject, first.from_address) == ("Hi", "news@acme.example")
    assert first.html == "<p>Spring &amp; more</p><a>Unsubscribe</a>"
    assert first.text == "Hello\nUnsubscribe: https://u.example/t\n"
    assert (batch.items[1].email.subject, batch.items[1].email.html) == ("Salut", "<p>fr</p>")
    assert batch.items[2].email.html == "<p>whole</p>"


def test_a_batch_parsed_again_with_other_layouts_is_read_again() -> None:
    first = laid_out_batch("reused")
    email_layouts.bodies(first, first.items[0].laid_out_email)
    changed = laid_out_batch("reused")
    changed.email_layouts[0].html_parts[0] = "<div class='x'>"
    # The same batch id, as a retry's batch has; another message, another batch.
    second = bus_pb2.DispatchBatch.FromString(changed.SerializeToString())
    html, _ = email_layouts.bodies(second, second.items[0].laid_out_email)
    assert html.startswith("<div class='x'>Spring")
