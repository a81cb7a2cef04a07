"""Renderer throughput: variants per second per channel on one core.

    uv run python bench/bench_render.py [--emails N] [--sms N] [--posts N]

Each recipient differs (name, locale, attributes) so per-recipient work is really done;
posts re-render the account's variant each time (what dispatch asks of the renderer).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.shared import tokens
from brandcast.v1 import campaign_pb2


def _spec(*, personal_templates: bool) -> campaign_pb2.CampaignSpec:
    spec = campaign_pb2.CampaignSpec(name="Spring Sale 2026")
    kit = spec.brand_kit
    kit.name = "Acme Coffee"
    kit.email_sender.address = "news@acme.example"
    kit.postal_address = "1 Main St, Springfield"
    kit.legal_footer = "You receive this email because you subscribed at acme.example."
    kit.logo_url = "https://acme.example/logo.png"
    kit.primary_color = "#0a7d5a"
    kit.default_hashtags.extend(["acme", "coffee"])
    for index, network in enumerate(
        (
            campaign_pb2.SOCIAL_NETWORK_MASTODON,
            campaign_pb2.SOCIAL_NETWORK_BLUESKY,
            campaign_pb2.SOCIAL_NETWORK_X,
            campaign_pb2.SOCIAL_NETWORK_LINKEDIN,
        )
    ):
        kit.social_accounts.add(id=f"account-{index}", network=network)
    core = spec.core_message
    core.headline = "Our spring blend is here"
    core.body = (
        "Bright, floral and roasted last week in small batches. Every bag ordered this week "
        "ships free, and members get a second bag at half price.\n\n"
        "Visit one of our shops for a free tasting on Saturday morning. " * 3
    )
    core.cta_text = "Order now"
    core.cta_url = "https://acme.example/spring?ref=newsletter"
    core.hashtags.append("spring")
    core.translations["fr"].headline = "Notre mélange de printemps est arrivé"
    core.translations["fr"].body = "Floral et torréfié la semaine dernière. " * 5
    spec.channels.email.enabled = True
    spec.channels.email.unsubscribe_url = "https://acme.example/unsubscribe"
    spec.channels.sms.enabled = True
    spec.channels.sms.replace_lookalikes = True
    spec.channels.social.enabled = True
    if personal_templates:
        spec.channels.email.templates.subject = "{{ recipient.name }}, {{ message.headline }}"
        spec.channels.sms.template = (
            "Hi {{ recipient.name }}! {{ message.headline }}. {{ message.body }}"
        )
    return spec


def _recipients(count: int) -> list[campaign_pb2.Recipient]:
    locales = ["en-US", "fr-FR", "de-DE", "fr-CA"]
    return [
        campaign_pb2.Recipient(
            id=f"r{i}",
            name=f"Person {i}",
            locale=locales[i % len(locales)],
            attributes={"tier": "gold" if i % 3 else "silver"},
        )
        for i in range(count)
    ]


def _measure(label: str, count: int, render: Callable[[int], object]) -> None:
    # CPU seconds of this process as well as wall time: on a shared, busy machine the
    # wall-clock rate measures the neighbours too; the per-CPU-second rate is one core's.
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(count):
        render(i)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    print(
        f"{label:<42} {count:>7} in {elapsed:6.2f}s  {count / elapsed:>9,.0f}/s"
        f"  ({count / cpu:>9,.0f} per CPU second)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=20_000)
    parser.add_argument("--sms", type=int, default=50_000)
    parser.add_argument("--posts", type=int, default=50_000)
    args = parser.parse_args()
    recipients = _recipients(1000)
    for personal in (False, True):
        _bench_campaign(args, recipients, personal=personal)
    _bench_unsubscribe_links(args.emails, recipients)


def _bench_unsubscribe_links(count: int, recipients: list[campaign_pb2.Recipient]) -> None:
    """Each e-mail's signed unsubscribe link: made whole per delivery (before),
    from its campaign's ``UnsubscribeLinks`` (now)."""
    print("-- unsubscribe links, one per e-mail")
    secret, base, campaign_id = "s3cret", "https://acme.example/u", str(uuid.uuid4())
    _measure(
        "made whole per e-mail (unsubscribe_url)",
        count,
        lambda i: tokens.unsubscribe_url(
            base,
            channel="email",
            address=recipients[i % len(recipients)].email,
            delivery_id=str(i),
            campaign_id=campaign_id,
            secret=secret,
            brand="Acme Coffee",
            brand_color="#6f4e37",
        ),
    )
    links = tokens.UnsubscribeLinks(
        base,
        channel="email",
        campaign_id=campaign_id,
        secret=secret,
        brand="Acme Coffee",
        brand_color="#6f4e37",
    )
    _measure(
        "campaign's UnsubscribeLinks.url",
        count,
        lambda i: links.url(address=recipients[i % len(recipients)].email, delivery_id=str(i)),
    )


def _bench_campaign(
    args: argparse.Namespace, recipients: list[campaign_pb2.Recipient], *, personal: bool
) -> None:
    kind = "personal templates" if personal else "built-in templates"
    started = time.perf_counter()
    renderer = CampaignRenderer(_spec(personal_templates=personal), campaign_id="bench")
    print(f"-- {kind}: campaign prepared in {time.perf_counter() - started:.3f}s")
    _measure(
        f"email ({kind})",
        args.emails,
        lambda i: renderer.email(
            recipients[i % len(recipients)], unsubscribe_url=f"https://acme.example/u/{i}"
        ),
    )
    _measure(f"sms ({kind})", args.sms, lambda i: renderer.sms(recipients[i % len(recipients)]))
    accounts = renderer.social_accounts()
    _measure(f"social ({kind})", args.posts, lambda i: renderer.social(accounts[i % len(accounts)]))


if __name__ == "__main__":
    main()
