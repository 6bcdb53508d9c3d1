"""The API docs page works offline: Swagger UI comes from our static files, not a CDN."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_docs_page_references_only_local_static_urls(client, make_user):
    client.force_login(make_user("viewer"))
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    urls += re.findall(r"""["'](https?://[^"']+)["']""", html)
    assert any("swagger-ui" in url and url.startswith("/static/") for url in urls), urls
    remote = [url for url in urls if url.startswith(("http://", "https://", "//"))]
    assert remote == []


def test_swagger_ui_renders_the_operations_with_no_network(page, live_server, login, make_user, screenshot):
    # The browser resolves no host but the live server (see CHROMIUM_ARGS), so a CDN would fail.
    login(make_user("viewer"))
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.locator(".swagger-ui .opblock-summary-path", has_text="/api/runs/").first).to_be_visible()
    assert page.locator(".swagger-ui .opblock").count() > 10
    screenshot("swagger")
