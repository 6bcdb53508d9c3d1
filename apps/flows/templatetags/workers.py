"""{% run_waiting_reason run as reason %}: why a run left waiting has not started (see workers.py)."""

from django import template

from apps.flows.workers import flow_run_waiting_explain

register = template.Library()


@register.simple_tag
def run_waiting_reason(run) -> str:
    return flow_run_waiting_explain(run=run)
