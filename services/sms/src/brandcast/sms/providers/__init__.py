"""SMS providers behind one small port.

Each provider module translates its HTTP API's answers into an ``Outcome`` or
into the shared error tree (``TransientProviderError`` for 429/5xx/timeouts,
``PermanentProviderError`` with the provider's own code otherwise).
"""

from brandcast.sms.providers._port import SmsProvider
from brandcast.sms.providers.twilio import TwilioProvider
from brandcast.sms.providers.vonage import VonageProvider

__all__ = ["SmsProvider", "TwilioProvider", "VonageProvider"]
