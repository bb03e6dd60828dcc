"""A real S3 server on loopback (moto's ThreadedMotoServer machinery on 127.0.0.1, a free port).

Buckets: ``cellpainting-gallery`` (public-read, like the real one: read
anonymously) and ``private`` (credentials needed). No test talks to any other
address: every client gets this server's endpoint explicitly, and the AWS
environment is cleared around each test.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

pytest.importorskip("moto")
pytest.importorskip("s3fs")

from _s3_helpers import GALLERY, PRIVATE  # noqa: E402

from cytoplan.testing.s3 import LocalS3Server  # noqa: E402

_AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SKIP_SIGNATURE",
    "AWS_ALLOW_HTTP",
)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3Server]:
    with LocalS3Server() as server:
        server.create_bucket(GALLERY, public=True)
        server.create_bucket(PRIVATE)
        yield server


@pytest.fixture(autouse=True)
def _clean_aws_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.mktemp("aws")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test (the server is shared by the session)."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def anonymous(s3_server: LocalS3Server) -> dict[str, str]:
    """Only the endpoint: the gallery bucket is read unsigned by default."""
    return {"endpoint_url": s3_server.endpoint}


@pytest.fixture
def credentialed(s3_server: LocalS3Server) -> dict[str, str]:
    return s3_server.storage_options()
