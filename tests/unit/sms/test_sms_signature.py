from __future__ import annotations

from brandcast.sms.signature import is_valid_twilio_signature, twilio_signature

# The worked example from Twilio's security documentation.
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+12349013030"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("To", "+18005551212"),
]


def test_matches_twilios_documented_example() -> None:
    assert twilio_signature(URL, PARAMS, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_parameter_order_does_not_matter() -> None:
    assert twilio_signature(URL, reversed(PARAMS), "12345") == twilio_signature(
        URL, PARAMS, "12345"
    )


def test_any_change_breaks_the_signature() -> None:
    good = twilio_signature(URL, PARAMS, "12345")
    assert is_valid_twilio_signature(URL, PARAMS, good, "12345")
    assert not is_valid_twilio_signature(URL, PARAMS, good, "other-token")
    assert not is_valid_twilio_signature(URL + "&d=other", PARAMS, good, "12345")
    assert not is_valid_twilio_signature(URL, [*PARAMS[:-1], ("To", "+1999")], good, "12345")
    assert not is_valid_twilio_signature(URL, PARAMS, "", "12345")
    assert not is_valid_twilio_signature(URL, PARAMS, good, "")
