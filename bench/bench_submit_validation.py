"""Address validation at submit: CPU per recipient of the intake's recipient checks.

    uv run python bench/bench_submit_validation.py [--recipients N] [--runs N]
        [--full] [--warm] [--profile]

The audience looks like a real one rather than ``person{i}@example.com``: most
addresses are on a few large mailbox providers, the rest spread over a long tail
of company domains (a few internationalised), local parts and domains in mixed
case; phones of a dozen countries, mostly in E.164, some typed with spaces,
dashes and brackets, many sharing area codes and mobile prefixes. Every address
is valid, so the whole audience is accepted, as in a normal submit.

It times ``intake._check_slice`` (what ``CampaignIntake.submit`` runs on each
slice of 1,000 recipients) in process, on one core, and prints microseconds of
CPU per recipient. ``--full`` turns the cached paths off: every address goes
through email-validator and phonenumbers whole, as before issue #23 (the
"before" number). ``--warm`` keeps the domain and numbering-plan caches of a
first, untimed pass (a later submit to the same audience). ``--profile`` prints
pyinstrument's tree of one run instead.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time

import phonenumbers

from brandcast.orchestrator import fast_addresses, intake, validation
from brandcast.orchestrator.validation import RecipientChecker
from brandcast.v1 import campaign_pb2

#: Mailbox providers and their share of the audience (the rest: company domains).
PROVIDERS = {
    "gmail.com": 0.30,
    "yahoo.com": 0.08,
    "hotmail.com": 0.06,
    "outlook.com": 0.05,
    "icloud.com": 0.04,
    "gmx.de": 0.03,
    "orange.fr": 0.02,
    "yahoo.co.uk": 0.02,
    "web.de": 0.02,
    "comcast.net": 0.02,
}
COMPANY_DOMAINS = 3000
#: Unicode domains among the company ones (written as typed, not in Punycode).
IDN_DOMAINS = ("münchen-bäckerei.de", "café-paris.fr", "例え.jp", "straße.de", "ελλάδα.gr")
#: (region, share, typed with separators): mobile numbers, shares of the audience.
PHONE_REGIONS = (
    ("US", 0.40),
    ("CA", 0.08),
    ("GB", 0.10),
    ("DE", 0.08),
    ("FR", 0.07),
    ("IN", 0.07),
    ("BR", 0.05),
    ("AU", 0.04),
    ("MX", 0.03),
    ("JP", 0.03),
    ("ES", 0.03),
    ("NL", 0.02),
)
#: Prefixes per region the audience's numbers share (a campaign is regional).
PREFIXES_PER_REGION = 40


def _company_domains(rng: random.Random) -> list[str]:
    words = ["acme", "north", "blue", "river", "stone", "bright", "alpine", "coast", "metro"]
    tlds = ["com", "co.uk", "de", "fr", "io", "net", "org", "com.au", "ca", "nl"]
    out = [
        f"{rng.choice(words)}{rng.choice(['', '-'])}{rng.choice(words)}{i}.{rng.choice(tlds)}"
        for i in range(COMPANY_DOMAINS - len(IDN_DOMAINS))
    ]
    return out + list(IDN_DOMAINS)


def _local_part(rng: random.Random, i: int) -> str:
    first = rng.choice(["anna", "ben", "chloe", "david", "emma", "felix", "grace", "hugo", "jo"])
    last = rng.choice(["smith", "müller", "martin", "garcia", "rossi", "tanaka", "brown"])
    last = last.replace("ü", "u")
    shape = i % 5
    if shape == 0:
        return f"{first}.{last}"
    if shape == 1:
        return f"{first.capitalize()}.{last.capitalize()}{i % 100}"
    if shape == 2:
        return f"{first}{last[0]}+news"
    if shape == 3:
        return f"{first[0]}{last}{i}"
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(10))


def _emails(rng: random.Random, count: int) -> list[str]:
    companies = _company_domains(rng)
    providers = list(PROVIDERS)
    weights = list(PROVIDERS.values())
    provider_share = sum(weights)
    out = []
    for i in range(count):
        if rng.random() < provider_share:
            domain = rng.choices(providers, weights)[0]
        else:
            # A long tail: a few companies have many people on the list.
            domain = companies[min(int(rng.paretovariate(1.2)) - 1, len(companies) - 1)]
            if rng.random() < 0.5:
                domain = rng.choice(companies)
        if i % 7 == 0:
            domain = domain.upper() if domain.isascii() else domain
        out.append(f"{_local_part(rng, i)}@{domain}")
    return out


def _prefixes(rng: random.Random, region: str) -> list[str]:
    """National prefixes of valid mobile numbers of ``region`` (all but the last 4 digits)."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    national = str(example.national_number)
    code = example.country_code
    found: set[str] = set()
    for _ in range(5000):
        if len(found) >= PREFIXES_PER_REGION:
            break
        digits = list(national)
        # Vary the digits after the first two: other area codes, exchanges, ranges.
        for position in range(2, len(digits) - 4):
            if rng.random() < 0.5:
                digits[position] = rng.choice(string.digits)
        candidate = phonenumbers.parse(f"+{code}{''.join(digits)}", None)
        if phonenumbers.is_valid_number_for_region(candidate, region):
            found.add(f"+{code}{''.join(digits)}"[:-4])
    return sorted(found)


def _typed(rng: random.Random, e164: str) -> str:
    """Most numbers arrive in E.164; some as people type them."""
    roll = rng.random()
    if roll < 0.8:
        return e164
    number = phonenumbers.parse(e164, None)
    style = phonenumbers.PhoneNumberFormat.INTERNATIONAL
    typed = phonenumbers.format_number(number, style)
    if roll < 0.9:
        return typed
    return typed.replace(" ", "-", 1)


def _phones(rng: random.Random, count: int) -> list[str]:
    regions = [r for r, _ in PHONE_REGIONS]
    weights = [w for _, w in PHONE_REGIONS]
    prefixes = {region: _prefixes(rng, region) for region in regions}
    out: list[str] = []
    while len(out) < count:
        region = rng.choices(regions, weights)[0]
        e164 = f"{rng.choice(prefixes[region])}{rng.randrange(10_000):04d}"
        if not phonenumbers.is_valid_number(phonenumbers.parse(e164, None)):
            continue  # some ranges reserve a last digit or two
        out.append(_typed(rng, e164))
    return out


def audience(count: int, seed: int = 23) -> list[campaign_pb2.Recipient]:
    rng = random.Random(seed)
    emails = _emails(rng, count)
    phones = _phones(rng, count)
    return [
        campaign_pb2.Recipient(
            id=f"r{i}",
            email=emails[i] if i % 10 != 9 else "",  # one in ten has only a phone
            phone=phones[i] if i % 10 != 8 else "",  # and one in ten only an email
            name=f"Person {i}",
            locale="en-US",
        )
        for i in range(count)
    ]


def _channels() -> campaign_pb2.ChannelSettings:
    channels = campaign_pb2.ChannelSettings()
    channels.email.enabled = True
    channels.sms.enabled = True
    return channels


def run_once(recipients: list[campaign_pb2.Recipient], *, warm: bool = False) -> float:
    """CPU seconds to check the whole audience, slice by slice, as the intake does."""
    if not warm:
        # The process-wide caches of domains and numbering plans cold: the
        # first submit after a start.
        fast_addresses.clear_caches()
    checker = RecipientChecker(_channels())
    slices = [
        [(f"spec.audience[{start + i}]", r) for i, r in enumerate(recipients[start : start + 1000])]
        for start in range(0, len(recipients), intake.SLICE)
    ]
    started = time.process_time()
    for members in slices:
        intake._check_slice(checker, members)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="no cached paths (the old cost)")
    parser.add_argument("--warm", action="store_true", help="caches filled by an earlier pass")
    parser.add_argument("--profile", action="store_true", help="pyinstrument tree of one run")
    args = parser.parse_args()
    if args.full:
        # The checker calls these by module name: the original functions, kept as the reference.
        setattr(validation, "normalize_email", validation.normalize_email_full)  # noqa: B010
        setattr(validation, "normalize_phone", validation.normalize_phone_full)  # noqa: B010

    recipients = audience(args.recipients)
    domains = {r.email.rsplit("@", 1)[1].lower() for r in recipients if r.email}
    print(
        f"{args.recipients:,} recipients, {len(domains):,} e-mail domains, "
        f"{sum(1 for r in recipients if r.phone):,} phones",
        flush=True,
    )
    if args.profile:
        from pyinstrument import Profiler  # noqa: PLC0415 - only for --profile

        with Profiler(interval=0.0005) as profiler:
            run_once(recipients)
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return
    if args.warm:
        run_once([campaign_pb2.Recipient.FromString(r.SerializeToString()) for r in recipients])
    per_recipient = []
    for run in range(args.runs):
        # A fresh copy: the checker cleans recipients in place.
        fresh = [campaign_pb2.Recipient.FromString(r.SerializeToString()) for r in recipients]
        seconds = run_once(fresh, warm=args.warm)
        per_recipient.append(seconds / len(fresh) * 1e6)
        print(f"run {run + 1}: {per_recipient[-1]:.1f} µs per recipient", flush=True)
    mode = "full checks" if args.full else "cached paths, " + ("warm" if args.warm else "cold")
    print(f"median ({mode}): {statistics.median(per_recipient):.1f} µs of CPU per recipient")


if __name__ == "__main__":
    main()
