from apps.flows import flow


@flow(name="needs-a-name")
def needs_a_name(name: str, times: int = 1) -> str:
    return name * times
