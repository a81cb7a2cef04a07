"""Loopback stand-ins for real providers: an SMTP sink and a Postmark emulator."""
