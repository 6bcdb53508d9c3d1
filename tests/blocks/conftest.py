import socket
import threading

import pytest


@pytest.fixture
def s3_form_data(s3_settings, s3_bucket):
    """What an admin types into the S3 block form to reach the test S3 server."""
    return {
        "block_type": "s3",
        "name": "demo",
        "bucket_path": f"{s3_bucket}/results",
        "region_name": "",
        "endpoint_url": s3_settings["endpoint_url"],
        "credentials": "keys",
        "aws_access_key_id": s3_settings["aws_access_key_id"],
        "aws_secret_access_key": s3_settings["aws_secret_access_key"],
        "aws_session_token": "",
    }


@pytest.fixture
def s3_block_settings(s3_settings, s3_bucket):
    """Constructor arguments of an S3 filesystem on the test server."""
    return {
        "bucket_path": f"{s3_bucket}/results",
        "endpoint_url": s3_settings["endpoint_url"],
        "aws_access_key_id": s3_settings["aws_access_key_id"],
        "aws_secret_access_key": s3_settings["aws_secret_access_key"],
    }


@pytest.fixture
def silent_endpoint():
    """An HTTP endpoint that accepts connections and never answers: requests to it time out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for connection in accepted:
        connection.close()
    server.close()
