"""Sign-in throttling: guessing passwords on /login/, /admin/login/ or /api/token/ is slowed, then refused.

Limits here are small and explicit: 4 failures per user name (slowed from the 2nd on), 8 per address,
10 minutes of lockout. The clock is the throttle's own, moved by hand.
"""

import logging

import pytest

from apps.core import throttle
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "not-the-password"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(throttle, "throttle_now", fake)
    return fake


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 900
    settings.LOGIN_THROTTLE_USER_LIMIT = 4
    settings.LOGIN_THROTTLE_ADDRESS_LIMIT = 8
    settings.LOGIN_THROTTLE_LOCKOUT_SECONDS = 600
    settings.LOGIN_THROTTLE_PROXY_COUNT = 0


def login(client, username, password, address="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def token(client, username, password, address="10.0.0.1"):
    return client.post("/api/token/", {"username": username, "password": password}, REMOTE_ADDR=address)


def fail_until_locked(client, clock, username, *, times, address="10.0.0.1"):
    """Wrong passwords, each one once the slowing delay allows it."""
    for _ in range(times):
        assert login(client, username, WRONG, address).status_code == 200
        clock.advance(60)


def test_thirty_wrong_passwords_then_the_right_one_is_refused(client, make_user, clock):
    user = make_user("viewer")
    statuses = [login(client, user.username, WRONG).status_code for _ in range(30)]
    assert statuses[:2] == [200, 200]  # wrong password, form shown again
    assert set(statuses[2:]) == {429}  # slowed: refused before the password is looked at
    response = login(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_attempts_are_slowed_from_half_the_limit_on(client, make_user, clock):
    user = make_user("viewer")
    login(client, user.username, WRONG)
    login(client, user.username, WRONG)
    refused = login(client, user.username, PASSWORD)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert "Too many failed sign-ins" in refused.content.decode()

    clock.advance(1)
    assert login(client, user.username, WRONG).status_code == 200
    assert login(client, user.username, PASSWORD)["Retry-After"] == "2"
    clock.advance(2)
    assert login(client, user.username, PASSWORD).status_code == 302


def test_at_the_limit_the_right_password_is_refused_until_the_lockout_ends(client, make_user, clock):
    user = make_user("viewer")
    fail_until_locked(client, clock, user.username, times=4)

    refused = login(client, user.username, PASSWORD)
    assert refused.status_code == 429
    assert "user name locked out" in refused.content.decode()
    clock.advance(600 - 60 - 1)
    assert login(client, user.username, PASSWORD).status_code == 429

    clock.advance(1)
    assert login(client, user.username, PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_after_a_lockout_the_user_name_starts_afresh(client, make_user, clock):
    user = make_user("viewer")
    fail_until_locked(client, clock, user.username, times=4)
    clock.advance(600)
    fail_until_locked(client, clock, user.username, times=1)
    assert login(client, user.username, PASSWORD).status_code == 302


def test_the_user_name_is_throttled_from_every_address(client, make_user, clock):
    user = make_user("viewer")
    for n in range(4):
        assert login(client, user.username, WRONG, address=f"10.0.1.{n}").status_code == 200
        clock.advance(60)
    assert login(client, user.username, PASSWORD, address="10.0.2.1").status_code == 429


def test_user_names_differing_in_case_share_their_count(client, make_user, clock):
    user = make_user("viewer", username="alice")
    fail_until_locked(client, clock, "ALICE", times=2)
    fail_until_locked(client, clock, " Alice", times=2)
    assert login(client, user.username, PASSWORD).status_code == 429


def test_one_address_guessing_many_user_names_is_locked_out(client, make_user, clock):
    other = make_user("viewer")
    for n in range(8):
        assert login(client, f"guess{n}", WRONG, address="10.9.9.9").status_code == 200
        clock.advance(60)
    refused = login(client, other.username, PASSWORD, address="10.9.9.9")
    assert refused.status_code == 429
    assert "address locked out" in refused.content.decode()
    assert login(client, other.username, PASSWORD, address="10.9.9.10").status_code == 302


def test_signing_in_forgets_the_user_names_failures_but_not_the_addresss(client, make_user, clock):
    guesser, victim = make_user("viewer"), make_user("viewer")
    fail_until_locked(client, clock, victim.username, times=3)
    assert login(client, guesser.username, PASSWORD).status_code == 302
    client.logout()
    clock.advance(60)
    # The victim's count survived the guesser's own sign-in from the same address.
    assert login(client, victim.username, WRONG).status_code == 200
    assert login(client, victim.username, PASSWORD).status_code == 429

    signer = make_user("viewer")
    fail_until_locked(client, clock, signer.username, times=1, address="10.0.3.1")
    assert login(client, signer.username, PASSWORD, address="10.0.3.1").status_code == 302
    client.logout()
    fail_until_locked(client, clock, signer.username, times=3, address="10.0.3.2")
    assert login(client, signer.username, PASSWORD, address="10.0.3.2").status_code == 302


def test_a_post_without_password_neither_counts_nor_forgets(client, make_user, clock):
    user = make_user("viewer")
    fail_until_locked(client, clock, user.username, times=3)
    assert client.post("/login/", {"username": user.username}, REMOTE_ADDR="10.0.0.1").status_code == 200
    assert login(client, user.username, WRONG).status_code == 200
    assert login(client, user.username, PASSWORD).status_code == 429


def test_the_token_endpoint_is_throttled_and_shares_the_count(client, make_user, clock):
    user = make_user("viewer")
    fail_until_locked(client, clock, user.username, times=2)
    assert token(client, user.username, WRONG).status_code == 400
    clock.advance(60)
    assert token(client, user.username, WRONG).status_code == 400

    refused = token(client, user.username, PASSWORD)
    assert refused.status_code == 429
    assert "user name locked out" in refused.json()["detail"]
    assert int(refused["Retry-After"]) == 600
    clock.advance(600)
    assert len(token(client, user.username, PASSWORD).json()["token"]) == 40


def test_a_token_request_that_is_not_an_object_is_refused_and_counted(client, clock):
    def post_a_list():
        return client.post("/api/token/", [], content_type="application/json", REMOTE_ADDR="10.7.7.7")

    for _ in range(8):
        assert post_a_list().status_code == 400
        clock.advance(60)
    assert post_a_list().status_code == 429


def test_the_admin_login_is_throttled_too(client, make_user, clock):
    user = make_user("admin", is_staff=True)
    fail_until_locked(client, clock, user.username, times=4)
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": user.username, "password": PASSWORD, "next": "/admin/"},
        REMOTE_ADDR="10.0.0.1",
    )
    assert response.status_code == 200
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_each_refusal_and_each_lockout_is_logged(client, make_user, clock, caplog):
    user = make_user("viewer")
    with caplog.at_level(logging.WARNING, logger="apps.core.throttle"):
        fail_until_locked(client, clock, user.username, times=4, address="10.4.4.4")
        login(client, user.username, PASSWORD, address="10.4.4.4")
        token(client, user.username, PASSWORD, address="10.4.4.4")
    messages = [record.getMessage() for record in caplog.records]
    assert [m for m in messages if "locked out for 600 s" in m] == [
        f"Sign-in locked out for 600 s: user name {user.username!r} after 4 failures (last from 10.4.4.4)"
    ]
    refusals = [m for m in messages if m.startswith("Sign-in refused")]
    assert len(refusals) == 2
    assert all(repr(user.username) in m and "10.4.4.4" in m and "locked out" in m for m in refusals)


def test_behind_proxies_the_address_the_outer_proxy_saw_counts(client, make_user, clock, settings):
    settings.LOGIN_THROTTLE_PROXY_COUNT = 1
    for n in range(8):
        client.post(
            "/login/",
            {"username": f"guess{n}", "password": WRONG},
            REMOTE_ADDR="172.16.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.7",  # the client's own part varies
        )
        clock.advance(60)
    user = make_user("viewer")
    blocked = {"HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    other = {"HTTP_X_FORWARDED_FOR": "198.51.100.8"}
    form = {"username": user.username, "password": PASSWORD}
    assert client.post("/login/", form, REMOTE_ADDR="172.16.0.1", **blocked).status_code == 429
    assert client.post("/login/", form, REMOTE_ADDR="172.16.0.1", **other).status_code == 302
