"""ADMIN_USERS parsing, password checks and `brandcast-admin hash-password`."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
from argon2 import PasswordHasher

from brandcast.admin.cli import main
from brandcast.admin.users import UserDirectory, UsersConfigError, hash_password

# The cheapest argon2 cost: the tests are about parsing, not hashing strength.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def test_several_users_parse_despite_the_commas_inside_argon2_hashes() -> None:
    spec = (
        f"alice:{CHEAP_HASHER.hash('a-pw')}, bob:{CHEAP_HASHER.hash('b-pw')};"
        f"carol:{CHEAP_HASHER.hash('c')}"
    )
    users = UserDirectory.parse(spec)
    assert sorted(users.hashes) == ["alice", "bob", "carol"]
    assert users.verify("alice", "a-pw")
    assert users.verify("bob", "b-pw")
    assert not users.verify("alice", "b-pw")
    assert not users.verify("nobody", "a-pw")


@pytest.mark.parametrize(
    ("spec", "entry"),
    [
        ("alice:plaintext", 1),
        (f"alice:{CHEAP_HASHER.hash('x')}, bob:not-a-hash", 2),
        (f"alice {CHEAP_HASHER.hash('x')}", 1),
    ],
)
def test_malformed_users_name_the_entry(spec: str, entry: int) -> None:
    with pytest.raises(UsersConfigError, match=f"entry {entry}: expected name:"):
        UserDirectory.parse(spec)


def test_an_empty_password_cannot_be_hashed(password: Any) -> None:
    with pytest.raises(ValueError, match="password: must not be empty"):
        hash_password("")


def test_demo_directory_accepts_only_its_random_password(password: Any) -> None:
    users, password = UserDirectory.demo()
    assert users.verify("demo", password)
    assert not users.verify("demo", "demo")


def test_hash_password_command_prints_a_usable_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], password: Any
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret-pass\n"))
    assert main(["hash-password", "--user", "alice"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("alice:$argon2id$")
    assert UserDirectory.parse(line).verify("alice", "s3cret-pass")


def test_hash_password_command_refuses_an_empty_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], password: Any
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["hash-password"]) == 1
    assert "must not be empty" in capsys.readouterr().err
