"""SMS variants: budget, shortening, link and opt-out kept, encodings, translations."""

import pytest

from brandcast.orchestrator.rendering import CampaignRenderer, RenderError
from brandcast.shared.text_counting import count_sms
from brandcast.v1 import campaign_pb2, variant_pb2

LINK = "https://acme.example/sale?utm_source=sms&utm_medium=sms&utm_campaign=spring-sale-2026"


def _sms(
    spec: campaign_pb2.CampaignSpec, *, locale: str = "", name: str = ""
) -> tuple[str, list[str], int, int]:
    recipient = campaign_pb2.Recipient(id="r1", locale=locale, name=name)
    rendered = CampaignRenderer(spec).sms(recipient)
    variant = rendered.variant
    assert count_sms(variant.text).segments == variant.segments
    return variant.text, [w.code for w in rendered.warnings], variant.segments, variant.encoding


def test_short_message_has_link_and_opt_out_untouched(spec: campaign_pb2.CampaignSpec) -> None:
    text, warnings, segments, encoding = _sms(spec)
    assert (
        text == f"Acme: Spring sale. Everything is 20% off this week. {LINK} Reply STOP to opt out"
    )
    assert warnings == []
    assert (segments, encoding) == (1, variant_pb2.SMS_ENCODING_GSM7)


def test_long_body_is_shortened_at_a_word_boundary(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.body = " ".join(f"word{i}" for i in range(100))
    text, warnings, segments, _ = _sms(spec)
    assert segments == 1
    assert warnings == ["sms.truncated"]
    assert text.endswith(f"... {LINK} Reply STOP to opt out")
    kept = text.split("... ")[0].split(" ")
    assert kept[-1].startswith("word")
    assert f"{kept[-1]} " in spec.core_message.body + " "


def test_segment_budget_two_allows_a_longer_text(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.body = " ".join(f"word{i}" for i in range(100))
    spec.channels.sms.segment_budget = 2
    text, warnings, segments, _ = _sms(spec)
    assert segments == 2
    assert 160 < len(text) <= 306
    assert "sms.truncated" in warnings
    assert LINK in text
    assert text.endswith("Reply STOP to opt out")


@pytest.mark.parametrize(
    ("locale", "opt_out"),
    [
        ("fr-FR", "Répondez STOP pour vous désabonner"),
        ("de", "Antworten Sie STOP zum Abbestellen"),
        ("es-MX", "Responde STOP para darte de baja"),
        ("it", "Rispondi STOP per annullare"),
        ("pt-BR", "Responda STOP para cancelar"),
        ("nl", "Antwoord STOP om af te melden"),
    ],
)
def test_opt_out_is_translated_with_the_content(
    spec: campaign_pb2.CampaignSpec, locale: str, opt_out: str
) -> None:
    language = locale.split("-", maxsplit=1)[0]
    spec.core_message.translations[language].headline = f"headline-{language}"
    text, _, _, encoding = _sms(spec, locale=locale)
    assert f"headline-{language}" in text
    assert text.endswith(opt_out)
    assert encoding == variant_pb2.SMS_ENCODING_GSM7


def test_custom_opt_out_text_wins(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.sms.opt_out_text = "Text STOP to quit"
    text, _, _, _ = _sms(spec, locale="fr")
    assert text.endswith("Text STOP to quit")


def test_emoji_switches_to_ucs2_with_a_warning(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.headline = "Spring sale 🌷"
    spec.channels.sms.segment_budget = 3
    text, warnings, segments, encoding = _sms(spec)
    assert encoding == variant_pb2.SMS_ENCODING_UCS2
    assert warnings == ["sms.ucs2"]
    assert segments == 3  # 150 UTF-16 units: 67 + 67 + 16
    assert "🌷" in text


def test_shortening_may_drop_the_only_ucs2_character(spec: campaign_pb2.CampaignSpec) -> None:
    # Link + opt-out alone take 106 units: more than one UCS-2 segment (70) but within
    # one GSM-7 segment, so the fitted text drops the emoji and goes out as GSM-7. The
    # body went with it: an error the admin shows before sending.
    spec.core_message.headline = "Spring sale 🌷"
    text, warnings, segments, encoding = _sms(spec)
    assert (segments, encoding) == (1, variant_pb2.SMS_ENCODING_GSM7)
    assert warnings == ["sms.body_dropped"]
    assert text.startswith("Acme: Spring sale... https://")
    assert "🌷" not in text
    assert LINK in text
    assert text.endswith("Reply STOP to opt out")


def test_replace_lookalikes_keeps_gsm7(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.headline = "It’s “spring” – finally…"
    spec.channels.sms.replace_lookalikes = True  # the old switch; replacing is the default
    text, warnings, _, encoding = _sms(spec)
    assert encoding == variant_pb2.SMS_ENCODING_GSM7
    assert 'It\'s "spring" - finally...' in text
    assert "sms.ucs2" not in warnings


def test_curly_quotes_are_replaced_by_default(spec: campaign_pb2.CampaignSpec) -> None:
    # One curly quote used to make the whole SMS UCS-2 and, on a tight budget, drop the body.
    spec.core_message.headline = "It’s spring"
    spec.core_message.body = "A “fresh” start – everything 20% off. " * 3
    spec.channels.sms.segment_budget = 2
    text, warnings, segments, encoding = _sms(spec)
    assert (encoding, segments) == (variant_pb2.SMS_ENCODING_GSM7, 2)
    assert warnings == []
    assert 'It\'s spring. A "fresh" start - everything 20% off.' in text


def test_kept_lookalikes_cost_ucs2(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.headline = "It’s spring"
    spec.channels.sms.keep_lookalikes = True
    spec.channels.sms.segment_budget = 3
    _, warnings, _, encoding = _sms(spec)
    assert encoding == variant_pb2.SMS_ENCODING_UCS2
    assert "sms.ucs2" in warnings


def test_link_and_opt_out_that_cannot_fit_is_a_render_error(
    spec: campaign_pb2.CampaignSpec,
) -> None:
    spec.core_message.cta_url = "https://acme.example/" + "x" * 150
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec)
    assert [v.field for v in info.value.violations] == ["channels.sms.segment_budget"]
    assert "over the budget of 1" in info.value.violations[0].description


def test_template_with_recipient_data_and_cut_keeps_inline_link(
    spec: campaign_pb2.CampaignSpec,
) -> None:
    spec.channels.sms.template = (
        "Hi {{ recipient.name }}, {{ message.headline }}: {{ link }} "
        "{{ message.body }} {{ message.body }} {{ message.body }} {{ message.body }}"
    )
    text, warnings, segments, _ = _sms(spec, name="Zoe")
    assert text.startswith("Hi Zoe, Spring sale: ")
    assert LINK in text
    assert text.endswith("Reply STOP to opt out")
    assert warnings == ["sms.truncated"]
    assert segments == 1


def test_exactly_160_gsm7_characters_fits_without_cut(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.cta_url = ""
    spec.core_message.cta_text = ""
    spec.channels.sms.template = "{{ recipient.attributes.text }}"
    suffix = " Reply STOP to opt out"
    renderer = CampaignRenderer(spec)
    fits = renderer.sms(
        campaign_pb2.Recipient(attributes={"text": "a" * (160 - len(suffix))})
    ).variant
    assert (len(fits.text), fits.segments) == (160, 1)
    over = renderer.sms(campaign_pb2.Recipient(attributes={"text": "a " * 69 + "bb"}))
    assert over.variant.segments == 1
    assert len(over.variant.text) <= 160
    assert [w.code for w in over.warnings] == ["sms.truncated"]


@pytest.mark.parametrize("template", ["", "{{ message.headline }}! {{ link }} {{ opt_out }}"])
def test_an_sms_the_same_for_everyone_is_fitted_once_per_locale(
    spec: campaign_pb2.CampaignSpec, template: str
) -> None:
    spec.channels.sms.template = template
    spec.core_message.body = " ".join(f"word{i}" for i in range(100))  # shortened: a warning
    spec.core_message.translations["fr"].headline = "Soldes de printemps"
    renderer = CampaignRenderer(spec)
    people = [
        campaign_pb2.Recipient(id=f"r{i}", locale=("fr" if i % 2 else "en")) for i in range(6)
    ]
    first = [renderer.sms(person) for person in people]
    # Each is what a renderer of its own makes for that recipient.
    for person, rendered in zip(people, first, strict=True):
        alone = CampaignRenderer(spec).sms(person)
        assert rendered.variant == alone.variant
        assert rendered.warnings == alone.warnings
    assert first[0].variant.text != first[1].variant.text  # English and French differ
    # What a caller does with its copy never reaches the next recipient's.
    first[0].variant.text = "changed"
    first[0].warnings.clear()
    again = renderer.sms(people[2])
    assert again.variant == CampaignRenderer(spec).sms(people[2]).variant
    assert again.warnings == CampaignRenderer(spec).sms(people[2]).warnings


def test_a_personal_sms_template_still_renders_per_recipient(
    spec: campaign_pb2.CampaignSpec,
) -> None:
    spec.channels.sms.template = "Hi {{ recipient.name }}, {{ message.headline }} {{ link }}"
    renderer = CampaignRenderer(spec)
    ann = renderer.sms(campaign_pb2.Recipient(id="r1", name="Ann")).variant.text
    bob = renderer.sms(campaign_pb2.Recipient(id="r2", name="Bob")).variant.text
    assert ann.startswith("Hi Ann,")
    assert bob.startswith("Hi Bob,")
