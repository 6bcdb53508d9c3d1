"""python manage.py run_flow NAME --param k=v [--param k=v ...] [--submit] [--wait SECONDS]"""

from django.core.management.base import BaseCommand, CommandError

from apps.flows.engine.flow_runner import flow_run_execute
from apps.flows.parameters import parameters_validate
from apps.flows.registry import FlowNotFoundError, flow_get
from apps.flows.submission import flow_run_submit


class Command(BaseCommand):
    help = "Run a registered flow here, or submit it to a Celery worker with --submit."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the flow's name, as `flows` lists it")
        parser.add_argument(
            "--param",
            "-p",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a parameter; values are typed by the flow's annotations, else read as JSON",
        )
        parser.add_argument("--submit", action="store_true", help="queue the run for a worker instead")
        parser.add_argument(
            "--wait",
            type=float,
            default=None,
            metavar="SECONDS",
            help="with --submit: wait up to SECONDS for the run to end",
        )

    def handle(self, *args, name, param, submit, wait, **options):
        try:
            flow = flow_get(name)
        except FlowNotFoundError as exc:
            raise CommandError(str(exc)) from None
        raw = {}
        for item in param:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise CommandError(f"--param {item!r}: expected NAME=VALUE")
            raw[key.strip()] = value
        try:
            parameters = parameters_validate(flow, raw, from_text=True)
        except ValueError as exc:
            raise CommandError(f"bad parameters for {name}: {exc}") from None
        if submit:
            handle = flow_run_submit(flow_name=name, parameters=parameters)
            self.stdout.write(f"submitted flow run {handle.id}")
            if wait is not None:
                state = handle.wait(timeout=wait)
                if state is None:
                    raise CommandError(f"flow run {handle.id} did not finish within {wait:g} s")
                self.stdout.write(f"{state.type.value}{': ' + state.message if state.message else ''}")
                if not state.is_completed():
                    raise CommandError(f"flow run {handle.id} ended {state.type.value}")
            return
        state = flow_run_execute(flow, parameters)
        self.stdout.write(f"{state.type.value}{': ' + state.message if state.message else ''}")
        if not state.is_completed():
            raise CommandError(f"flow {name} ended {state.type.value}: {state.message}")
        self.stdout.write(repr(state.data))
