"""io.remote: storage options (aliases, environment, gallery), error translation, retries."""

from __future__ import annotations

import pytest

from cytoplan.exceptions import SourceError
from cytoplan.io import remote


def test_aliases_and_http_endpoint() -> None:
    got = remote.storage_options_for(
        "s3://lab/x.parquet",
        {"endpoint_url": "http://127.0.0.1:1", "region": "eu-west-1", "key": "K", "secret": "S"},
        env={},
    )
    assert got["aws_endpoint_url"] == "http://127.0.0.1:1"
    assert got["aws_region"] == "eu-west-1"
    assert (got["aws_access_key_id"], got["aws_secret_access_key"]) == ("K", "S")
    assert got["aws_allow_http"] == "true"
    assert "aws_skip_signature" not in got  # not the gallery: signed requests
    assert got["max_retries"] == remote.DEFAULT_RETRIES


def test_environment_is_a_default_and_explicit_options_win() -> None:
    env = {"AWS_ENDPOINT_URL": "https://env.example", "AWS_DEFAULT_REGION": "us-west-2"}
    got = remote.storage_options_for("s3://lab/x", {"aws_region": "ap-south-1"}, env=env)
    assert got["aws_endpoint_url"] == "https://env.example"
    assert got["aws_region"] == "ap-south-1"
    assert "aws_allow_http" not in got


def test_gallery_is_anonymous_unless_credentials_or_anon_false() -> None:
    url = "s3://cellpainting-gallery/cpg0016-jump/source_4/workspace/profiles/b/p/p.parquet"
    assert remote.storage_options_for(url, env={})["aws_skip_signature"] == "true"
    assert remote.storage_options_for(url, env={})["aws_region"] == "us-east-1"
    signed = remote.storage_options_for(url, {"key": "K", "secret": "S"}, env={})
    assert "aws_skip_signature" not in signed
    assert remote.storage_options_for(url, {"anon": False}, env={})["aws_skip_signature"] == "false"
    fs = remote.fsspec_options(url, env={})
    assert fs["anon"] is True
    assert fs["config_kwargs"]["retries"] == {
        "max_attempts": remote.DEFAULT_RETRIES + 1,
        "mode": "standard",
    }


def test_https_options_pass_through() -> None:
    assert remote.storage_options_for("https://h/x.parquet", {"a": "b"}, env={}) == {"a": "b"}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (FileNotFoundError("gone"), "not found: 's3://b/k'"),
        (PermissionError("no"), "access denied to read 's3://b/k'"),
        (OSError("Server returned non-2xx status code: 403 Forbidden"), "access denied"),
        (OSError("NoSuchBucket"), "not found"),
        (ValueError("odd"), "cannot read 's3://b/k': ValueError: odd"),
        (ValueError("bad value in s3://b/BR00401503/x"), "cannot read"),  # numbers in a URL
    ],
)
def test_remote_error_names_the_url(error: Exception, expected: str) -> None:
    assert expected in str(remote.remote_error(error, "s3://b/k"))


def test_gallery_403_hint_suggests_anonymous_access() -> None:
    message = str(remote.remote_error(PermissionError("x"), "s3://cellpainting-gallery/a"))
    assert "anonymously" in message


def test_retrying_backs_off_on_transient_errors_only() -> None:
    delays: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 4:
            raise ConnectionError("connection reset")
        return "done"

    assert remote.retrying(flaky, url="s3://b/k", sleep=delays.append, init_backoff=1.0) == "done"
    assert len(delays) == 3
    # exponential (1, 2, 4 s) with jitter in [0.5, 1.5)
    for attempt, delay in enumerate(delays):
        assert 0.5 * 2**attempt <= delay < 1.5 * 2**attempt

    def missing() -> None:
        calls["n"] += 1
        raise FileNotFoundError("k")

    calls["n"] = 0
    with pytest.raises(SourceError, match="not found"):
        remote.retrying(missing, url="s3://b/k", sleep=delays.append)
    assert calls["n"] == 1  # a 404 is not retried


def test_retrying_gives_up_after_the_last_attempt() -> None:
    calls = {"n": 0}

    def down() -> None:
        calls["n"] += 1
        raise TimeoutError("timed out")

    with pytest.raises(SourceError, match="cannot read 's3://b/k'"):
        remote.retrying(down, url="s3://b/k", attempts=3, sleep=lambda s: None)
    assert calls["n"] == 3


def test_numbers_in_urls_are_not_status_codes() -> None:
    calls = {"n": 0}

    def fails() -> None:
        calls["n"] += 1
        msg = "cannot parse s3://b/BR00503401/p.parquet"
        raise ValueError(msg)

    with pytest.raises(SourceError, match="cannot read"):
        remote.retrying(fails, url="s3://b/k", sleep=lambda s: None)
    assert calls["n"] == 1  # not mistaken for a 503: not retried
