"""An obstore store rooted at a Delta table, built from deltalake ``storage_options``.

The watcher lists ``_delta_log/`` and fetches new data files through obstore
so that it only touches the objects it needs; the same ``storage_options``
dict that deltalake gets (see :func:`coptwin.storage.delta_storage_options`)
configures it, so both always agree on endpoint, region and credentials.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlparse

from obstore.exceptions import BaseError, NotFoundError

from coptwin.storage import Credentials, redact

log = logging.getLogger(__name__)

#: obstore raises its own NotFoundError or the builtin FileNotFoundError, depending on store.
NOT_FOUND: tuple[type[BaseException], ...] = (NotFoundError, FileNotFoundError)
#: Anything a store may raise for I/O trouble.
STORE_ERRORS: tuple[type[BaseException], ...] = (BaseError, OSError)

#: deltalake option -> obstore S3Config key (reading needs no commit options).
_S3_KEYS = {
    "AWS_REGION": "region",
    "AWS_DEFAULT_REGION": "region",
    "AWS_ENDPOINT_URL": "endpoint",
    "AWS_ENDPOINT": "endpoint",
    "AWS_ENDPOINT_URL_S3": "endpoint",
    "AWS_ACCESS_KEY_ID": "access_key_id",
    "AWS_SECRET_ACCESS_KEY": "secret_access_key",
    "AWS_SESSION_TOKEN": "session_token",
    "AWS_TOKEN": "session_token",
}
_S3_BOOL_KEYS = {
    "AWS_SKIP_SIGNATURE": "skip_signature",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "virtual_hosted_style_request",
}
#: Options only delta-rs' commit path uses; irrelevant for reading.
_WRITE_ONLY = {"AWS_CONDITIONAL_PUT", "AWS_S3_ALLOW_UNSAFE_RENAME", "AWS_S3_LOCKING_PROVIDER"}


def is_local(uri: str) -> bool:
    """True for plain paths (also ``C:\\...``) and ``file://`` URIs."""
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> Path:
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    return Path(uri).expanduser()


def _truthy(value: str) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def credentials_of(storage_options: dict[str, str] | None) -> Credentials:
    """The secrets inside ``storage_options``, so messages can be redacted."""
    opts = {k.upper(): v for k, v in (storage_options or {}).items()}
    return Credentials(
        access_key_id=opts.get("AWS_ACCESS_KEY_ID"),
        secret_access_key=opts.get("AWS_SECRET_ACCESS_KEY"),
        session_token=opts.get("AWS_SESSION_TOKEN") or opts.get("AWS_TOKEN"),
        source="storage_options",
    )


def safe_message(exc: BaseException, storage_options: dict[str, str] | None) -> str:
    """``TypeName: message`` with every credential removed, first line only."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact(f"{type(exc).__name__}: {text}", credentials_of(storage_options))


def table_store(uri: str, storage_options: dict[str, str] | None = None):
    """An obstore store whose root is the table folder/prefix."""
    from obstore.store import LocalStore, S3Store

    if is_local(uri):
        return LocalStore(str(local_path(uri).resolve()))
    parsed = urlparse(uri)
    if parsed.scheme not in ("s3", "s3a"):
        raise ValueError(f"unsupported table URI scheme {parsed.scheme!r} (use a path or s3://)")
    config: dict[str, object] = {}
    client: dict[str, object] = {}
    for key, value in (storage_options or {}).items():
        upper = key.upper()
        if upper in _S3_KEYS:
            config[_S3_KEYS[upper]] = value
        elif upper in _S3_BOOL_KEYS:
            config[_S3_BOOL_KEYS[upper]] = _truthy(value)
        elif upper == "AWS_ALLOW_HTTP" or upper == "ALLOW_HTTP":
            client["allow_http"] = _truthy(value)
        elif upper == "CERTIFICATE_PATH":  # delta-rs' name for a PEM file of extra roots
            client["root_certificate"] = Path(value).read_bytes()
        elif upper not in _WRITE_ONLY:
            log.debug("storage option %s is not used for reading the Delta log", upper)
    prefix = parsed.path.strip("/") or None
    return S3Store(parsed.netloc, prefix=prefix, config=config, client_options=client)
