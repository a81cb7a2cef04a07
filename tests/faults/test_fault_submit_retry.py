"""Scenario 8: a client gives up on SubmitCampaign (DEADLINE_EXCEEDED) while the
server is still writing the campaign, then retries with the same idempotency
key: exactly one campaign exists, and the retry is told it is the same one."""

from __future__ import annotations

import time

import grpc
import pytest

from brandcast.v1 import campaign_service_pb2
from tests.faults.rig import in_process_api, sms_spec

SIZE = 3000


def test_retry_after_deadline_exceeded_makes_one_campaign(database_url: str) -> None:
    request = campaign_service_pb2.SubmitCampaignRequest(
        spec=sms_spec(SIZE), idempotency_key="deadline-retry-1"
    )
    with in_process_api(database_url) as api:
        with pytest.raises(grpc.RpcError) as first:
            api.campaigns.SubmitCampaign(request, timeout=0.05)
        assert first.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        # Retry at once (while the first call may still be writing) and again later.
        answers = []
        for _ in range(3):
            answers.append(api.campaigns.SubmitCampaign(request, timeout=60))
            time.sleep(0.2)
        campaigns = api.campaign_count()

    ids = {answer.campaign.id for answer in answers}
    duplicates = sum(answer.duplicate for answer in answers)
    print(
        f"\nscenario=8 audience={SIZE} retries={len(answers)} campaigns={campaigns} "
        f"duplicate_answers={duplicates}"
    )
    assert campaigns == 1
    assert len(ids) == 1
    assert duplicates >= len(answers) - 1
    assert answers[-1].campaign.audience_size == SIZE
