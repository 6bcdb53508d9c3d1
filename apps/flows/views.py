"""Flow pages: the list of registered flows and a run form built from a flow's signature.

The run pages themselves are in views_runs.py."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from apps.core.permissions import role_required
from apps.core.roles import Role, user_has_role

from .parameters import parameters_validate, signature_parameters
from .registry import FlowNotFoundError, flow_get, flow_registry
from .storage_check import flows_storage_missing
from .submission import flow_run_submit


@role_required(Role.VIEWER)
@require_safe
def flow_list(request):
    missing = flows_storage_missing()
    flows = [
        {
            "name": name,
            "description": flow.description,
            "parameters": signature_parameters(flow.signature),
            "retries": flow.retries,
            "persist_result": flow.persist_result,
            "storage_missing": missing.get(name),
        }
        for name, flow in flow_registry().items()
    ]
    return render(
        request,
        "flows/flow_list.html",
        {
            "flows": flows,
            "can_run": user_has_role(request.user, Role.OPERATOR),
            "storage_missing": bool(missing),
        },
    )


def run_form_class(flow) -> type[forms.Form]:
    """A form with one field per parameter; values are typed by annotation, others read as JSON."""
    fields = {}
    for parameter in signature_parameters(flow.signature):
        kind = parameter["type"]
        initial = parameter["default"]
        label = f"{parameter['name']}" + (f" ({kind})" if kind else "")
        if kind == "bool":
            fields[parameter["name"]] = forms.BooleanField(required=False, initial=initial, label=label)
            continue
        help_text = "" if kind in ("int", "float", "str") else "a JSON value, or text"
        fields[parameter["name"]] = forms.CharField(
            required=parameter["required"],
            label=label,
            help_text=help_text,
            initial="" if initial is None else initial,
        )
    return type("FlowRunForm", (forms.Form,), fields)


@role_required(Role.OPERATOR)
@require_http_methods(["GET", "POST"])
def flow_run(request, name: str):
    try:
        flow = flow_get(name)
    except FlowNotFoundError as exc:
        raise Http404(str(exc)) from None
    form_class = run_form_class(flow)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        raw = {
            key: value for key, value in form.cleaned_data.items() if value != "" or key in _required(flow)
        }
        try:
            parameters = parameters_validate(flow, raw, from_text=True)
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            handle = flow_run_submit(flow_name=name, parameters=parameters)
            messages.success(request, f"Run of {name} submitted.")
            return redirect("flows:run-detail", pk=handle.id)
    missing = flows_storage_missing(flows={name: flow}).get(name)
    return render(
        request, "flows/flow_run.html", {"flow": flow, "name": name, "form": form, "storage_missing": missing}
    )


def _required(flow) -> set[str]:
    return {p["name"] for p in signature_parameters(flow.signature) if p["required"]}
