"""The email providers ``EMAIL_PROVIDERS`` may name: one line per provider.

A provider is one module with a class that implements ``EmailProvider`` and has
``from_settings(settings)``; add it here (see ``docs/adding-a-provider.md``). A
dotted path in ``EMAIL_PROVIDERS`` loads a provider from another package.
"""

from __future__ import annotations

from typing import Final

from brandcast.email.providers.base import EmailProvider
from brandcast.shared.provider_table import ProviderTable

PROVIDERS: Final = ProviderTable[EmailProvider](
    "email provider",
    {
        "smtp": "brandcast.email.providers.smtp:SmtpProvider",
        "postmark": "brandcast.email.providers.postmark:PostmarkProvider",
        "null": "brandcast.email.providers.null:NullProvider",
    },
)
