"""The SMS providers ``SMS_PROVIDERS`` may name: one line per provider.

A provider is one module with a class that implements ``SmsProvider`` and has
``from_settings(settings)``; add it here (see ``docs/adding-a-provider.md``). A
dotted path in ``SMS_PROVIDERS`` loads a provider from another package.
"""

from __future__ import annotations

from typing import Final

from brandcast.shared.provider_table import ProviderTable
from brandcast.sms.providers._port import SmsProvider

PROVIDERS: Final = ProviderTable[SmsProvider](
    "SMS provider",
    {
        "twilio": "brandcast.sms.providers.twilio:TwilioProvider",
        "vonage": "brandcast.sms.providers.vonage:VonageProvider",
        "null": "brandcast.sms.providers.null:NullProvider",
    },
)
