"""Cancel, pause and resume: the store's state, the adapters' check, the dispatcher.

The store says what the campaign is; the control state in Redis (see
``brandcast.shared.control``) tells every adapter worker before its next
provider call, which is what stops deliveries already queued on the bus; the
dispatcher reads the open campaigns again so it stops (or resumes) releasing.
Stopping writes the store first, resuming clears the adapters' state first, so
nothing is released that a worker would still hold back.
"""

from __future__ import annotations

import logging

from brandcast.orchestrator.dispatcher import Dispatcher
from brandcast.orchestrator.errors import CampaignEndedError, CampaignNotFoundError
from brandcast.orchestrator.store import CampaignSettledError, Store
from brandcast.shared.control import CampaignControl, Control
from brandcast.v1 import campaign_pb2

log = logging.getLogger(__name__)


class CampaignControls:
    def __init__(
        self, store: Store, control: CampaignControl | None, dispatcher: Dispatcher | None
    ) -> None:
        self._store = store
        self._control = control
        self._dispatcher = dispatcher

    def cancel(self, campaign_id: str) -> tuple[campaign_pb2.Campaign, int]:
        """Cancel what is not yet queued; adapters cancel what is."""
        result = self._store.cancel_campaign(campaign_id)
        if result is None:
            raise CampaignNotFoundError(campaign_id)
        self._tell_adapters(campaign_id, Control.CANCELLED)
        self._refresh()
        return result

    def pause(self, campaign_id: str) -> campaign_pb2.Campaign:
        campaign = self._set(campaign_id, paused=True)
        self._tell_adapters(campaign_id, Control.PAUSED)
        return campaign

    def resume(self, campaign_id: str) -> campaign_pb2.Campaign:
        self._tell_adapters(campaign_id, Control.SEND)
        campaign = self._set(campaign_id, paused=False)
        if self._dispatcher is not None:
            self._dispatcher.wake()
        return campaign

    def _set(self, campaign_id: str, *, paused: bool) -> campaign_pb2.Campaign:
        try:
            if paused:
                campaign = self._store.pause_campaign(campaign_id)
            else:
                campaign = self._store.resume_campaign(campaign_id)
        except CampaignSettledError as exc:
            raise CampaignEndedError(str(exc)) from exc
        if campaign is None:
            raise CampaignNotFoundError(campaign_id)
        self._refresh()
        return campaign

    def _refresh(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.refresh()

    def _tell_adapters(self, campaign_id: str, state: Control) -> None:
        if self._control is None:
            return
        # Imported here: the orchestrator loads redis with its control client's
        # first use, which ``set`` below is (see brandcast.shared.control).
        import redis  # noqa: PLC0415

        try:
            self._control.set(campaign_id, state)
        except redis.RedisError:
            # The store already says it; only what is queued on the bus (a few
            # seconds of sending, see pacing) goes on as it was.
            log.exception(
                "could not tell the adapters campaign %s is %s",
                campaign_id,
                state.name.lower(),
                extra={"campaign_id": campaign_id},
            )
