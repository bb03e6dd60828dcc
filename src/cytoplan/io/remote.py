"""Remote tables (``s3://``, ``https://``): storage options, retries, clear errors, atomic uploads.

Every source and sink of :mod:`cytoplan.io` routes URLs through this module:

* :func:`storage_options_for` turns what the user gave (Polars/object_store keys
  such as ``aws_endpoint_url``, or the friendlier ``endpoint_url``, ``region``,
  ``anon``, ``key``/``secret``) plus the usual AWS environment
  (``AWS_ENDPOINT_URL``, ``AWS_REGION``/``AWS_DEFAULT_REGION``,
  ``AWS_SKIP_SIGNATURE``, ``AWS_ALLOW_HTTP``) into the options Polars' object
  store takes, with retry settings (exponential backoff) filled in. Credentials
  are not copied: Polars and botocore read ``AWS_ACCESS_KEY_ID``/``AWS_PROFILE``
  themselves.
* The Cell Painting Gallery bucket (``s3://cellpainting-gallery``) is public and
  read **anonymously by default** (``--no-sign-request``), in ``us-east-1``,
  unless credentials are passed explicitly or ``anon=False``.
* :func:`fsspec_options` gives the same settings to s3fs (used for listings,
  header lines, ranged SQLite reads and uploads).
* :func:`check_source` asks the store once, before a lazy scan, so that a
  missing object (404), a forbidden one (403) or a glob matching nothing is a
  :class:`~cytoplan.exceptions.SourceError` naming the URL and the fix, not a
  Polars error at ``collect()`` time.
* :func:`upload_file` writes a finished local file to a temporary key and copies
  it to its final key: a failed upload leaves no partial object and never
  replaces a good one.

Examples
--------
>>> opts = storage_options_for("s3://cellpainting-gallery/cpg0016-jump/x.parquet", env={})
>>> opts["aws_skip_signature"], opts["aws_region"]
('true', 'us-east-1')
>>> given = {"endpoint_url": "http://127.0.0.1:9000", "key": "k", "secret": "s"}
>>> opts = storage_options_for("s3://lab/p.parquet", given, env={})
>>> opts["aws_endpoint_url"], opts["aws_allow_http"], opts["aws_access_key_id"]
('http://127.0.0.1:9000', 'true', 'k')
>>> split_url("s3://bucket/a/b.parquet")
('s3', 'bucket', 'a/b.parquet')
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cytoplan.exceptions import SourceError

if TYPE_CHECKING:
    import fsspec

__all__ = [
    "GALLERY_BUCKET",
    "GALLERY_REGION",
    "check_source",
    "check_sources",
    "filesystem",
    "fsspec_options",
    "is_folder",
    "is_remote",
    "open_binary",
    "remote_error",
    "retrying",
    "split_url",
    "storage_options_for",
    "upload_file",
    "upload_tree",
]

GALLERY_BUCKET = "cellpainting-gallery"
GALLERY_REGION = "us-east-1"

#: Retries of a failed request (5xx, throttling, dropped connections) and their backoff.
DEFAULT_RETRIES = 5
DEFAULT_INIT_BACKOFF_MS = 200
DEFAULT_MAX_BACKOFF_MS = 10_000

T = TypeVar("T")

# user spelling -> object_store key
_ALIASES = {
    "endpoint_url": "aws_endpoint_url",
    "endpoint": "aws_endpoint_url",
    "aws_endpoint": "aws_endpoint_url",
    "region": "aws_region",
    "region_name": "aws_region",
    "aws_default_region": "aws_region",
    "key": "aws_access_key_id",
    "access_key_id": "aws_access_key_id",
    "secret": "aws_secret_access_key",
    "secret_access_key": "aws_secret_access_key",
    "token": "aws_session_token",
    "session_token": "aws_session_token",
    "aws_token": "aws_session_token",
    "anon": "aws_skip_signature",
    "anonymous": "aws_skip_signature",
    "no_sign_request": "aws_skip_signature",
    "skip_signature": "aws_skip_signature",
    "allow_http": "aws_allow_http",
}
_ENV = {
    "AWS_ENDPOINT_URL_S3": "aws_endpoint_url",
    "AWS_ENDPOINT_URL": "aws_endpoint_url",
    "AWS_REGION": "aws_region",
    "AWS_DEFAULT_REGION": "aws_region",
    "AWS_SKIP_SIGNATURE": "aws_skip_signature",
    "AWS_ALLOW_HTTP": "aws_allow_http",
}
_CREDENTIAL_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
_TRUE = {"1", "true", "yes", "on"}
#: Polars' own (integer) keys: retries with exponential backoff.
_RETRY_DEFAULTS = {
    "max_retries": DEFAULT_RETRIES,
    "retry_init_backoff_ms": DEFAULT_INIT_BACKOFF_MS,
    "retry_max_backoff_ms": DEFAULT_MAX_BACKOFF_MS,
}


def is_remote(path: str | Path) -> bool:
    """True for URLs (``s3://``, ``https://``, ...), false for local paths.

    >>> is_remote("s3://b/k"), is_remote("/data/plate.parquet")
    (True, False)
    """
    return "://" in str(path)


def split_url(url: str) -> tuple[str, str, str]:
    """``(scheme, bucket or host, key)`` of a URL."""
    scheme, _, rest = str(url).partition("://")
    bucket, _, key = rest.partition("/")
    return scheme.lower(), bucket, key


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flag(options: Mapping[str, object], key: str) -> bool:
    return str(options.get(key, "")).strip().lower() in _TRUE


def _is_s3(url: str) -> bool:
    return split_url(url)[0] in ("s3", "s3a")


def storage_options_for(
    url: str | Path,
    storage_options: Mapping[str, object] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The object-store options (Polars' ``storage_options``) for one URL.

    Parameters
    ----------
    url : str
        ``s3://bucket/key`` (globs allowed), ``https://...``.
    storage_options : mapping, optional
        Polars/object_store keys (``aws_endpoint_url``, ``aws_region``,
        ``aws_skip_signature``, ``aws_access_key_id``, ..., ``max_retries``) or
        the aliases ``endpoint_url``, ``region``, ``anon``/``no_sign_request``,
        ``key``, ``secret``, ``token``. Values may be strings or booleans.
    env : mapping, optional
        The environment to read defaults from (default: ``os.environ``).

    Returns
    -------
    dict
        String values, except Polars' integer retry settings. Explicit
        options win over the environment. For ``s3://`` URLs an ``http://``
        endpoint sets ``aws_allow_http``; the gallery bucket is read
        anonymously in ``us-east-1`` unless credentials or ``anon=False`` are
        given; retries with exponential backoff are on (``max_retries``,
        ``retry_init_backoff_ms``, ``retry_max_backoff_ms``). ``https://`` URLs
        get the user's options unchanged.

    Examples
    --------
    >>> storage_options_for("s3://cellpainting-gallery/x", {"anon": False}, env={}).get(
    ...     "aws_skip_signature"
    ... )
    'false'
    >>> storage_options_for("s3://lab/x", env={"AWS_REGION": "eu-west-1"})["aws_region"]
    'eu-west-1'
    """
    given = {_ALIASES.get(k.lower(), k): _text(v) for k, v in (storage_options or {}).items()}
    if not _is_s3(str(url)):
        return dict(storage_options or {})
    environment = os.environ if env is None else env
    options: dict[str, str] = {}
    for name, key in _ENV.items():
        if key not in options and environment.get(name):
            options[key] = environment[name]
    options.update(given)
    explicit_credentials = any(key in given for key in _CREDENTIAL_KEYS)
    if split_url(str(url))[1] == GALLERY_BUCKET:
        options.setdefault("aws_region", GALLERY_REGION)
        if not explicit_credentials and "aws_skip_signature" not in given:
            options["aws_skip_signature"] = "true"
    if options.get("aws_endpoint_url", "").lower().startswith("http://"):
        options.setdefault("aws_allow_http", "true")
    result: dict[str, Any] = dict(options)
    for key, default in _RETRY_DEFAULTS.items():
        result[key] = int(result.get(key, default))
    return result


def fsspec_options(
    url: str | Path,
    storage_options: Mapping[str, object] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The same settings as keyword arguments of ``s3fs.S3FileSystem`` (or fsspec's HTTP).

    >>> opts = fsspec_options(
    ...     "s3://cellpainting-gallery/x", {"endpoint_url": "http://127.0.0.1:9000"}, env={}
    ... )
    >>> opts["anon"], opts["client_kwargs"]
    (True, {'endpoint_url': 'http://127.0.0.1:9000', 'region_name': 'us-east-1'})
    """
    if not _is_s3(str(url)):
        return dict(storage_options or {})
    options = storage_options_for(url, storage_options, env=env)
    client: dict[str, str] = {}
    if "aws_endpoint_url" in options:
        client["endpoint_url"] = options["aws_endpoint_url"]
    if "aws_region" in options:
        client["region_name"] = options["aws_region"]
    attempts = int(options["max_retries"]) + 1
    result: dict[str, Any] = {
        "anon": _flag(options, "aws_skip_signature"),
        "client_kwargs": client,
        "config_kwargs": {"retries": {"max_attempts": attempts, "mode": "standard"}},
        "use_listings_cache": False,
    }
    for ours, theirs in zip(_CREDENTIAL_KEYS, ("key", "secret", "token"), strict=True):
        if ours in options:
            result[theirs] = options[ours]
    return result


def filesystem(
    url: str | Path, storage_options: Mapping[str, object] | None = None
) -> fsspec.AbstractFileSystem:
    """An fsspec file system for ``url`` (s3fs for ``s3://``), configured as above."""
    import fsspec

    scheme = split_url(str(url))[0]
    try:
        return fsspec.filesystem(scheme, **fsspec_options(url, storage_options))
    except ImportError as err:
        msg = (
            f"reading {str(url)!r} needs the {scheme!r} file system: "
            "pip install s3fs (a cytoplan dependency)"
        )
        raise SourceError(msg) from err


def _status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    if isinstance(response, Mapping):
        meta = response.get("ResponseMetadata", {})
        code = meta.get("HTTPStatusCode") if isinstance(meta, Mapping) else None
        if isinstance(code, int):
            return code
    status = getattr(err, "status", None) or getattr(err, "code", None)
    return status if isinstance(status, int) else None


def _kind(err: BaseException) -> str | None:
    """``"missing"``, ``"forbidden"``, ``"transient"`` or None (another error)."""
    text = str(err)
    status = _status(err)
    cause = err.__cause__ or err.__context__
    if isinstance(err, FileNotFoundError) or status == 404:
        return "missing"
    if isinstance(err, PermissionError) or status in (401, 403):
        return "forbidden"
    if any(word in text for word in ("NoSuchKey", "NoSuchBucket", "404 Not Found", "not found")):
        return "missing"
    if any(
        word in text
        for word in (
            "AccessDenied",
            "403 Forbidden",
            "401 Unauthorized",
            "NoCredentials",
            "locate credentials",
        )
    ):
        return "forbidden"
    if (status is not None and status >= 500) or status == 429:
        return "transient"
    # status phrases, not bare numbers: a URL may contain "503" (plate barcodes do)
    if isinstance(err, ConnectionError | TimeoutError) or any(
        word in text
        for word in (
            "SlowDown",
            "503 Service Unavailable",
            "500 Internal Server Error",
            "InternalError",
            "429 Too Many Requests",
            "timed out",
            "Connection reset",
            "connection closed",
        )
    ):
        return "transient"
    if cause is not None and cause is not err:
        return _kind(cause)
    return None


def remote_error(err: BaseException, url: str, *, action: str = "read") -> SourceError:
    """Our :class:`~cytoplan.exceptions.SourceError` for a failed request, naming the URL.

    >>> print(remote_error(FileNotFoundError("x"), "s3://b/k.parquet"))
    not found: 's3://b/k.parquet' (no such object or bucket; check the path, e.g. `aws s3 ls`)
    """
    kind = _kind(err)
    if kind == "missing":
        msg = f"not found: {url!r} (no such object or bucket; check the path, e.g. `aws s3 ls`)"
    elif kind == "forbidden":
        bucket = split_url(url)[1]
        hint = (
            "give credentials allowed to write there (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "or AWS_PROFILE, or storage_options key/secret)"
            if action == "write"
            else "the Cell Painting Gallery is public: read it anonymously "
            "(storage_options={'anon': True})"
            if bucket == GALLERY_BUCKET
            else "give credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "
            "or storage_options key/secret), or read a public bucket with "
            "storage_options={'anon': True}"
        )
        msg = f"access denied to {action} {url!r}: {hint}"
    else:
        msg = f"cannot {action} {url!r}: {type(err).__name__}: {err}"
    return SourceError(msg)


def retrying(
    call: Callable[[], T],
    *,
    url: str,
    action: str = "read",
    attempts: int = DEFAULT_RETRIES + 1,
    init_backoff: float = DEFAULT_INIT_BACKOFF_MS / 1000,
    max_backoff: float = DEFAULT_MAX_BACKOFF_MS / 1000,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``call()``; retry transient failures with exponential backoff and jitter.

    403/404 and other errors are not retried; every failure ends as a
    :class:`~cytoplan.exceptions.SourceError` naming ``url``.

    >>> outcomes = iter([ConnectionError("reset"), ConnectionError("reset"), "ok"])
    >>> def flaky():
    ...     out = next(outcomes)
    ...     if isinstance(out, Exception):
    ...         raise out
    ...     return out
    >>> retrying(flaky, url="s3://b/k", sleep=lambda s: None)
    'ok'
    """
    delay = init_backoff
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except SourceError:
            raise
        except Exception as err:
            if _kind(err) != "transient" or attempt == attempts:
                raise remote_error(err, url, action=action) from err
            sleep(min(max_backoff, delay) * (0.5 + random.random()))
            delay *= 2
    msg = f"cannot {action} {url!r}"  # pragma: no cover - the loop returns or raises
    raise SourceError(msg)


def _has_glob(url: str) -> bool:
    return any(ch in url for ch in "*?[")


def check_source(url: str, storage_options: Mapping[str, object] | None = None) -> list[str]:
    """Ask the store whether ``url`` exists; return the matching URLs.

    A plain object is checked with one HEAD request, a glob or a folder
    (``.../``) with one listing. Raises :class:`SourceError` naming the URL when
    the object is missing (404), forbidden (403) or a glob matches nothing.
    """
    scheme = split_url(url)[0]
    fs = filesystem(url, storage_options)
    if _has_glob(url) or url.endswith("/"):
        pattern = url + "**" if url.endswith("/") else url
        found = retrying(lambda: fs.glob(pattern), url=url, action="list")
        files = [f"{scheme}://{path}" if "://" not in path else path for path in found]
        if not files:
            msg = f"no files match {url!r}; check the bucket and prefix (e.g. `aws s3 ls`)"
            raise SourceError(msg)
        return sorted(files)
    info = retrying(lambda: fs.info(url), url=url)
    if info.get("type") == "directory":
        return check_source(url.rstrip("/") + "/", storage_options)
    return [url]


def check_sources(
    urls: Sequence[str], storage_options: Mapping[str, object] | None = None
) -> list[str]:
    """:func:`check_source` for many URLs at once (16 requests in flight); matches in order.

    A scan of hundreds of plates by URL list costs one round trip of checks, not
    hundreds; the first failure (in the order given) is raised.
    """
    from concurrent.futures import ThreadPoolExecutor

    if len(urls) <= 1:
        return [found for url in urls for found in check_source(url, storage_options)]
    with ThreadPoolExecutor(max_workers=min(16, len(urls))) as pool:
        futures = [pool.submit(check_source, url, storage_options) for url in urls]
        return [found for future in futures for found in future.result()]


def is_folder(url: str, storage_options: Mapping[str, object] | None = None) -> bool:
    """True when ``url`` names a prefix holding objects (a dataset folder), not one object."""
    if _has_glob(url):
        return False
    if url.endswith("/"):
        return True
    fs = filesystem(url, storage_options)
    return bool(retrying(lambda: fs.isdir(url), url=url, action="list"))


def open_binary(url: str, storage_options: Mapping[str, object] | None = None) -> Any:
    """An fsspec file object for reading ``url`` (ranged reads on demand)."""
    fs = filesystem(url, storage_options)
    return retrying(lambda: fs.open(url, "rb"), url=url)


def upload_file(
    local: str | Path, url: str, storage_options: Mapping[str, object] | None = None
) -> str:
    """Upload a finished local file to ``url`` atomically.

    The bytes go to a temporary key next to the destination
    (``.<name>.<random>.tmp``); only a complete upload is copied to the final
    key (a server-side copy) and the temporary key deleted. A failed upload
    removes the temporary key: no partial object appears and an existing
    object at ``url`` is kept.
    """
    fs = filesystem(url, storage_options)
    head, _, name = url.rpartition("/")
    tmp = f"{head}/.{name}.{secrets.token_hex(6)}.tmp"
    try:
        retrying(lambda: fs.put_file(str(local), tmp), url=url, action="write")
        retrying(lambda: fs.copy(tmp, url), url=url, action="write")
    finally:
        with contextlib.suppress(Exception):  # the temporary key may not exist
            fs.rm_file(tmp)
    return url


def upload_tree(
    local: str | Path, url: str, storage_options: Mapping[str, object] | None = None
) -> list[str]:
    """Upload every file under the folder ``local`` to the prefix ``url``, each atomically.

    Keeps relative paths (``local/a/b.parquet`` → ``<url>/a/b.parquet``), in sorted
    order, with :func:`upload_file`: an interrupted upload leaves complete objects
    only. Returns the URLs written. This is how a run computed in a local staging
    folder (e.g. a recipe's outputs and manifests) is published to a bucket.
    """
    root = Path(local)
    if not root.is_dir():
        msg = f"cannot upload {str(root)!r}: not a folder"
        raise SourceError(msg)
    prefix = url.rstrip("/")
    written = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        target = f"{prefix}/{path.relative_to(root).as_posix()}"
        written.append(upload_file(path, target, storage_options))
    return written
