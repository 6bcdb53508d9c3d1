"""python manage.py config set NAME=value ... | get NAME | unset NAME ... | view

The profile file (see project/profile.py) holds result settings for every process of this
deployment; an environment variable of the same name wins over it.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from project import profile


class Command(BaseCommand):
    help = "View and change result settings in the profile (environment variables win over it)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        set_parser = sub.add_parser("set", help="set NAME=value (several allowed)")
        set_parser.add_argument("assignments", nargs="+", metavar="NAME=VALUE")
        get_parser = sub.add_parser("get", help="print a setting's effective value")
        get_parser.add_argument("name")
        unset_parser = sub.add_parser("unset", help="remove settings from the profile")
        unset_parser.add_argument("names", nargs="+")
        sub.add_parser("view", help="every setting, its value and where it comes from")

    def handle(self, *args, action, **options):
        path = settings.RESULTS_PROFILE_PATH
        try:
            if action == "set":
                assignments = {}
                for item in options["assignments"]:
                    name, sep, value = item.partition("=")
                    if not sep:
                        raise CommandError(f"{item!r}: expected NAME=VALUE")
                    assignments[name] = value.strip().strip("'\"")
                values = profile.profile_set(path=path, assignments=assignments)
                for name in assignments:
                    canonical = profile.setting_name_canonical(name)
                    self.stdout.write(f"Set {canonical}={values[canonical]!r} in {path}")
                    if canonical in __import__("os").environ:
                        self.stdout.write(
                            self.style.WARNING(
                                f"  {canonical} is also set in the environment, which wins over the profile"
                            )
                        )
            elif action == "unset":
                profile.profile_unset(path=path, names=options["names"])
                for name in options["names"]:
                    self.stdout.write(f"Unset {profile.setting_name_canonical(name)} in {path}")
            elif action == "get":
                name = profile.setting_name_canonical(options["name"])
                values = profile.profile_read(path=path)
                self.stdout.write(profile.setting_effective(name=name, profile=values))
            else:
                values = profile.profile_read(path=path)
                self.stdout.write(f"# profile: {path}")
                for name in profile.PROFILE_SETTINGS:
                    value = profile.setting_effective(name=name, profile=values)
                    source = profile.setting_source(name=name, profile=values)
                    self.stdout.write(f"{name}={value!r} (from {source})")
        except profile.ProfileError as exc:
            raise CommandError(str(exc)) from None
