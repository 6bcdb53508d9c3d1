"""Every URL pattern, every method, every kind of user: who gets in is written down here.

The test walks the project's URLconf; a route missing from ROUTES fails, so a new route cannot ship
without saying who may use it. Each row names the methods the route serves and the least role each
needs. A method it does not serve is refused to everyone (405 for the admin role, 403 or 405 below).

Users: anonymous, signed in without a role, viewer, operator, admin; all signed-in ones are staff,
so the admin's own checks are exercised too. Anonymous requests are sent to the login page (pages),
to the admin's login (admin), or answered 401 (API).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

pytestmark = pytest.mark.django_db

METHODS = ["get", "post", "put", "patch", "delete"]
ANYONE, SIGNED_IN, V, OP, A, S = "anyone", "signed in", "viewer", "operator", "admin", "superuser"
NOBODY = "nobody"  # a role no one holds: the admin refuses it even to superusers
USERS = {
    "anonymous": set(),
    "no role": {SIGNED_IN},
    "viewer": {SIGNED_IN, V},
    "operator": {SIGNED_IN, V, OP},
    "admin": {SIGNED_IN, V, OP, A},
}


@dataclass(frozen=True)
class Route:
    kind: str  # page, api, admin or public: how an anonymous request is refused
    methods: dict[str, str]  # method -> the least role it needs
    obj: str | None = None  # the object whose fields fill the path
    query: str = ""
    data: dict[str, str] = field(default_factory=dict)  # the form a POST sends
    ok: tuple[int, ...] = ()  # statuses that count as served (besides 2xx, 3xx and 400)
    refused: int = 403  # how a signed-in user without the role is refused
    signed_in_sent_on: bool = False  # a signed-in user is redirected away whatever the method


def page(obj=None, *, data=None, ok=(), **methods):
    return Route("page", methods, obj, data=data or {}, ok=ok)


def api(obj=None, **methods):
    return Route("api", methods, obj)


def public(*, signed_in_sent_on=False, **methods):
    return Route("public", {method: ANYONE for method in methods}, signed_in_sent_on=signed_in_sent_on)


def every_method(role):
    return dict.fromkeys(METHODS, role)


def admin_model(path, obj, *, view=A, add=A, change=A, delete=A):
    """Django's admin answers PUT, PATCH and DELETE like GET; POST is the write."""

    def methods(read, write):
        return {**every_method(read), "post": write}

    return {
        f"admin:{path}_changelist": Route("admin", methods(view, view)),
        f"admin:{path}_add": Route("admin", every_method(add)),
        f"admin:{path}_history": Route("admin", every_method(view), obj),
        f"admin:{path}_delete": Route("admin", every_method(delete), obj),
        f"admin:{path}_change": Route("admin", methods(view, change), obj),
        f"admin/{path.replace('_', '/')}/<path:object_id>/": Route("admin", every_method(SIGNED_IN), obj),
    }


BLOCK_FORM = {"block": "local-file-system/here"}

ROUTES: dict[str, Route] = {
    # Signing in and out, health
    "login": public(get=1, post=1, put=1, signed_in_sent_on=True),
    "logout": page(post=SIGNED_IN),
    "healthz": public(get=1),
    "api-token": public(post=1),
    # Pages
    "home": page(get=V),
    "flows:flow-list": page(get=V),
    "flows:flow-run": page("flow", get=OP, post=OP),
    "flows:run-list": page(get=V),
    "flows:run-detail": page("run", get=V),
    "flows:worker-list": page(get=V),
    "blocks:block-list": page(get=V),
    "blocks:block-create": page(get=A, post=A),
    "blocks:block-detail": page("block", get=V),
    "blocks:block-update": page("block", get=A, post=A),
    "blocks:block-test": page("block", post=A),
    "blocks:block-delete": page("block", get=A, post=A),
    "prefect_servers:connection-list": page(get=A),
    "prefect_servers:connection-create": page(get=A, post=A),
    "prefect_servers:connection-detail": page("connection", get=A),
    "prefect_servers:connection-update": page("connection", get=A, post=A),
    "prefect_servers:connection-test": page("connection", post=A),
    "prefect_servers:connection-sync": page("connection", post=A),
    "prefect_servers:run-states": page("prefect_run", get=V),
    "prefect_servers:mapping-create": page("connection", post=A),
    "prefect_servers:mapping-update": page("mapping", get=A, post=A),
    "prefect_servers:mapping-delete": page("mapping", post=A),
    "results:result-list": page(get=V),
    "results:result-selection": page(get=V),
    "results:result-detail": page("result", get=V),
    "results:result-raw": page("result", get=V),
    "results:result-decode": page("result", post=OP),
    "results:result-expiration": page("result", get=V, post=OP),
    "results:expiration-bulk": page(get=OP, post=OP),
    "results:results-delete": page(get=A, post=A),
    "results:results-expiring": page(get=V),
    "results:cleanup": page(get=V),
    "results:cleanup-purge": page(post=A),
    "results:cleanup-job": page("job", get=V),
    "results:policy-save": page(post=OP),
    "results:policy-delete": page("policy", post=OP, ok=(404,)),  # 404: the operator deleted it before
    "results:policy-apply": page("policy", post=OP),
    "results:cleanup-index": page(post=A, data=BLOCK_FORM),
    "results:cleanup-orphans": page(post=A, data=BLOCK_FORM),
    "results:cleanup-orphans-clean": page(post=A, data=BLOCK_FORM),
    "results:serializer-list": page(get=V),
    "results:serializer-create": page(get=A, post=A),
    "results:serializer-update": page("serializer", get=A, post=A),
    "results:serializer-delete": page("serializer", get=A, post=A),
    # API
    "api-root": api(get=V),
    "api-schema": api(get=V),
    "api-docs": api(get=V),
    "api-workers": api(get=V),
    "block-list": api(get=V, post=A),
    "block-test-unsaved": api(post=A),
    "block-detail": api("block", get=V, put=A, patch=A, delete=A),
    "block-test": api("block", post=A),
    "serializer-config-list": api(get=V, post=A),
    "serializer-config-detail": api("serializer", get=V, put=A, patch=A, delete=A),
    "result-list": api(get=V),
    "result-detail": api("result", get=V),
    "result-preview": api("result", get=V),
    "result-raw": api("result", get=V),
    "result-decode": api("result", post=OP),
    "flow-list": api(get=V),
    "flow-detail": api("flow", get=V),
    "flow-runs": api("flow", post=OP),
    "flow-run-list": api(get=V),
    "flow-run-detail": api("run", get=V),
    "flow-run-task-runs": api("run", get=V),
    "flow-run-logs": api("run", get=V),
    "prefect-connection-list": api(get=A, post=A),
    "prefect-connection-detail": api("connection", get=A, put=A, patch=A, delete=A),
    "prefect-connection-test": api("connection", post=A),
    "prefect-connection-sync": api("connection", post=A),
    "prefect-path-mapping-list": api(get=A, post=A),
    "prefect-path-mapping-detail": api("mapping", get=A, put=A, patch=A, delete=A),
    # The admin site
    "admin:login": public(get=1, post=1, put=1),
    "admin:logout": Route("admin", {"post": SIGNED_IN}),
    "admin:index": Route("admin", every_method(SIGNED_IN)),
    "admin:password_change": Route("admin", {"get": SIGNED_IN, "post": SIGNED_IN, "put": SIGNED_IN}),
    "admin:password_change_done": Route("admin", {"get": SIGNED_IN}),
    "admin:jsi18n": Route("admin", {"get": SIGNED_IN}),
    "admin:autocomplete": Route(
        "admin", {"get": A}, query="?app_label=results&model_name=retentionpolicy&field_name=block"
    ),
    "admin:view_on_site": Route("admin", every_method(SIGNED_IN), "block", ok=(404,)),
    "admin:app_list": Route("admin", every_method(A), refused=404),
    "admin/(?P<url>.*)$": Route("admin", every_method(SIGNED_IN), ok=(404,)),
    "admin:auth_user_password_change": Route("admin", {**every_method(S)}, "user"),
    **admin_model("auth_user", "user", view=S, add=S, change=S, delete=S),
    **admin_model("auth_group", "group", view=S, add=S, change=S, delete=S),
    **admin_model("authtoken_tokenproxy", "token", view=S, add=S, change=S, delete=S),
    **admin_model("blocks_storageblock", "block"),
    **admin_model("results_serializerconfig", "serializer"),
    **admin_model("results_retentionpolicy", "policy"),
    **admin_model("results_resultreference", "result", add=NOBODY, delete=NOBODY),
    **admin_model("results_cleanupjob", "job", add=NOBODY, change=NOBODY, delete=NOBODY),
    **admin_model("results_purgeauditentry", "audit", add=NOBODY, change=NOBODY, delete=NOBODY),
}


@dataclass
class Pattern:
    key: str  # the URL name, or the route when it has none
    route: str
    kwargs: list[str] = field(default_factory=list)


def url_patterns(patterns=None, prefix="", namespace="") -> list[Pattern]:
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += url_patterns(entry.url_patterns, route, inner)
        elif isinstance(entry, URLPattern):
            kwargs = list(entry.pattern.regex.groupindex)
            key = f"{namespace}{entry.name}" if entry.name else route
            found.append(Pattern(key, route, kwargs))
    return found


PATTERNS = url_patterns()


def test_every_route_is_in_the_table_and_every_row_is_a_route():
    keys = {pattern.key for pattern in PATTERNS}
    assert sorted(keys - set(ROUTES)) == [], "routes nobody said who may use"
    assert sorted(set(ROUTES) - keys) == [], "rows for routes that do not exist"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def objects(db, tmp_path, settings):
    from rest_framework.authtoken.models import Token

    from apps.blocks import services
    from apps.flows.models import FlowRun
    from apps.flows.registry import flow_registry
    from apps.prefect_servers.models import PathMapping
    from apps.prefect_servers.services import connection_save
    from apps.results.models import PurgeAuditEntry, RetentionPolicy
    from apps.results.serializer_configs import serializer_config_save
    from apps.results.tasks import job_create
    from tests.dashboard_data import flow_run, stored_result
    from tests.factories import UserFactory

    settings.RESULTS_LOCAL_STORAGE_PATH = str(tmp_path / "default")
    (tmp_path / "block").mkdir()
    block = services.block_create(
        block_type="local-file-system", name="here", settings={"basepath": str(tmp_path / "block")}
    )
    result = stored_result(tmp_path / "block", {"rows": 3}, serializer="json")
    owner = UserFactory(username="owner")
    return {
        "block": block,
        "result": result,
        "run": flow_run(result=result),
        "flow": next(iter(flow_registry())),
        "serializer": serializer_config_save(name="mine", config={"type": "json"}),
        "policy": RetentionPolicy.objects.create(block=block, expire_after=dt.timedelta(days=30)),
        "job": job_create(kind="purge-expired", params={}),
        "audit": PurgeAuditEntry.objects.create(username="owner"),
        "user": owner,
        "connection": (connection := connection_save(name="there", api_url="http://127.0.0.1:9/api")),
        # A block of its own: a mapped block is kept from deletion, and the block routes delete theirs.
        "mapping": PathMapping.objects.create(
            connection=connection,
            path_prefix="/srv/prefect",
            block=services.block_create(
                block_type="local-file-system", name="mapped", settings={"basepath": str(tmp_path / "block")}
            ),
        ),
        "prefect_run": FlowRun.objects.create(
            name="synced",
            flow_name="etl",
            source="prefect",
            source_connection_id=connection.pk,
            external_id=uuid.uuid4(),
        ),
        "group": owner.groups.model.objects.get(name="viewer"),
        "token": Token.objects.create(user=owner).user,  # the token admin's URLs name the user
    }


def fill(pattern: Pattern, obj) -> dict[str, str]:
    values = {"format": "json", "app_label": "blocks", "url": "no-such-page/"}
    if obj is not None:
        values["content_type_id"] = (
            ContentType.objects.get_for_model(obj).pk if not isinstance(obj, str) else ""
        )
        for name in ("pk", "object_id", "id"):
            values[name] = str(getattr(obj, "pk", obj))
        values["block_type"] = getattr(obj, "block_type", "")
        values["name"] = obj if isinstance(obj, str) else getattr(obj, "name", "")
    return {name: values[name] for name in pattern.kwargs}


def url_of(pattern: Pattern, obj) -> str:
    kwargs = fill(pattern, obj)
    if pattern.key in ROUTES and not pattern.key.startswith("admin/"):
        return reverse(pattern.key, kwargs=kwargs)
    route = pattern.route
    for name, value in kwargs.items():
        route = route.replace(f"<path:{name}>", value).replace(f"(?P<{name}>.*)$", value)
    return "/" + route


def expected(route: Route, method: str, roles: set[str]) -> str:
    needed = route.methods.get(method)
    if needed == ANYONE:
        return "served"
    if not roles and route.kind != "public":
        return "sign in"
    if needed is None:
        if roles and route.signed_in_sent_on:
            return "served"
        # Below the admin role an API write is refused by role before its method is looked at.
        return "405" if A in roles and set(route.methods.values()) - {ANYONE} <= roles else "refused"
    return "served" if needed in roles else str(route.refused)


def outcome(response, route: Route) -> str:
    status = response.status_code
    location = response.get("Location", "")
    if status == 302 and (location.startswith("/login/?next=") or location.startswith("/admin/login/?next=")):
        return "sign in"
    if status == 401 and route.kind == "api":
        return "sign in"
    if status in (403, 405, 404) and status not in route.ok:
        return str(status)
    if status < 400 or status == 400 or status in route.ok:
        return "served"
    return str(status)


@pytest.fixture
def clients(db):
    from tests.factories import UserFactory

    made = {"anonymous": Client()}
    for label in list(USERS)[1:]:
        client = Client()
        role = None if label == "no role" else label
        client.force_login(UserFactory(username=f"route-{label.replace(' ', '-')}", role=role, is_staff=True))
        made[label] = client
    return made


def route_cases():
    seen = set()
    for pattern in PATTERNS:
        if pattern.key in seen and "format" in pattern.kwargs:
            continue  # the same view with a format suffix
        seen.add(pattern.key)
        for method in METHODS:
            yield pytest.param(pattern, method, id=f"{method.upper()} {pattern.key}")


@pytest.mark.parametrize(("pattern", "method"), route_cases())
def test_route(pattern, method, objects, clients):
    route = ROUTES.get(pattern.key)
    assert route is not None, f"{pattern.key} is not in ROUTES"
    url = url_of(pattern, objects.get(route.obj)) + route.query
    wrong = []
    for label, roles in USERS.items():
        response = getattr(clients[label], method)(url, **({"data": route.data} if method == "post" else {}))
        want, got = expected(route, method, roles), outcome(response, route)
        if want == "refused" and got in ("403", "405"):
            continue
        if want != got:
            wrong.append(
                f"{label}: expected {want}, got {response.status_code} {response.get('Location', '')}"
            )
    assert not wrong, f"{method.upper()} {url}\n" + "\n".join(wrong)
