"""Scenario 11: a template injection corpus through the real gRPC API.

Every payload is a marketer-controlled template (SMS, social and email fields).
None may run code (the payloads that would try write a marker file), each call
ends within its deadline, and the caller gets INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from brandcast.v1 import campaign_service_pb2
from tests.faults.rig import InProcessApi, in_process_api, sms_spec


def corpus(marker: Path) -> list[str]:
    touch = f"open('{marker}', 'w').write('pwned')"
    system = f"system('touch {marker}')"
    return [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ recipient.__class__.__init__.__globals__ }}",
        "{{ ''|attr('__class__')|attr('__mro__') }}",
        "{{ (''|attr('\\x5f\\x5fclass\\x5f\\x5f')) }}",
        "{{ cycler.__init__.__globals__.os." + system + " }}",
        "{{ joiner.__init__.__globals__.os." + system + " }}",
        "{{ namespace.__init__.__globals__.os." + system + " }}",
        "{{ lipsum.__globals__['os']." + system + " }}",
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os." + system + " }}",
        "{{ config.__class__.__init__.__globals__['os']." + system + " }}",
        "{{ request.application.__globals__.__builtins__." + touch + " }}",
        "{{ '{0.__class__.__mro__}'.format('') }}",
        "{{ '%s'.format.__globals__ }}",
        "{{ '{0.__init__.__globals__}'.format(cycler) }}",
        "{% for i in range(10**9) %}x{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{{ 'x' * 10**9 }}",
        "{{ 'x' * 999999 ~ 'x' * 999999 }}",
        "{{ '%9999999999s'|format('x') }}",
        "{{ 'x'|center(999999999) }}",
        "{{ 10 ** 10000000 }}",
        "{% set ns = namespace(a='x') %}{% for i in range(40) %}"
        "{% set ns.a = ns.a ~ ns.a %}{% endfor %}{{ ns.a }}",
        "{{ 'x'" + "|replace('x', 'xxxxxxxxxx')" * 9 + " }}",
        "{{ range(10000)|join('x' * 999999) }}",
        "{{ ('x' * 999999).join(range(10000)) }}",
        "{{ ('x' * 999999).replace('x', 'yyyyyyyyyy') }}",
        "{{ range(10)|batch(1000000000, 'x')|list }}",
        "{{ range(10)|slice(100000000)|list }}",
        "{{ lipsum(10000000) }}",
        "{{ '\t'.expandtabs(1000000000) }}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
        "{{ recipient.update({'x': 1}) }}",
        "{% include '/etc/passwd' %}",
        "{% import 'os' as os %}",
        "{% extends '/etc/passwd' %}",
        "{{ undefined_name }}",
        "{{ unclosed",
    ]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[InProcessApi]:
    with in_process_api(f"sqlite:///{tmp_path / 'api.db'}") as served:
        yield served


@pytest.mark.parametrize("field", ["sms", "social", "email_subject"])
def test_template_injection_corpus_is_refused(
    api: InProcessApi, tmp_path: Path, field: str
) -> None:
    marker = tmp_path / "pwned"
    refused = 0
    wrong: list[tuple[str, str]] = []
    payloads = corpus(marker)
    for index, payload in enumerate(payloads):
        spec = sms_spec(2)
        if field == "sms":
            spec.channels.sms.template = payload
        elif field == "social":
            spec.channels.sms.enabled = False
            spec.channels.social.enabled = True
            spec.brand_kit.social_accounts.add(
                id="acme", network=1, handle="@acme@mastodon.example"
            )
            spec.channels.social.template = payload
        else:
            spec.channels.sms.enabled = False
            spec.channels.email.enabled = True
            spec.brand_kit.email_sender.address = "news@acme.example.com"
            spec.brand_kit.postal_address = "1 Market St, San Francisco"
            spec.audience[0].email = "a@example.com"
            spec.channels.email.templates.subject = payload
        try:
            api.campaigns.SubmitCampaign(
                campaign_service_pb2.SubmitCampaignRequest(spec=spec, idempotency_key=f"i{index}"),
                timeout=20,
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT and "template" in (
                error.details() or ""
            ):
                refused += 1
            else:
                wrong.append((payload, f"{error.code()}: {error.details()}"))
        else:
            wrong.append((payload, "accepted"))
    # The server is still up and answers a valid request.
    ok = api.campaigns.SubmitCampaign(
        campaign_service_pb2.SubmitCampaignRequest(spec=sms_spec(2), idempotency_key="ok"),
        timeout=20,
    )
    print(
        f"\nscenario=11 field={field} payloads={len(payloads)} refused={refused} "
        f"code_executed={marker.exists()}"
    )
    assert wrong == []
    assert ok.campaign.id
    assert not marker.exists()
    assert api.campaign_count() == 1 + len(wrong)
