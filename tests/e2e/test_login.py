import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_user_signs_in_and_sees_the_dashboard(page, live_server, login, make_user, screenshot):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot("login")

    user = make_user("operator")
    login(user)

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator(".whoami")).to_have_text(user.username)
    expect(page.get_by_role("link", name="API docs")).to_be_visible()
    path = screenshot("dashboard")
    assert path.stat().st_size > 10_000


def test_a_wrong_password_is_refused_in_the_browser(page, live_server, login, make_user):
    login(make_user("viewer"), password="wrong-password")
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
