"""Storage access built from one :class:`~coptwin.config.StorageConfig`.

deltalake (``storage_options``) and obstore (``S3Store`` / ``LocalStore``) are
configured from the same settings so they always agree on endpoint, region,
credentials and TLS.

A private or corporate CA (``storage.ca_bundle``, else ``$AWS_CA_BUNDLE``)
reaches each HTTP client the way it honours it; checked against a TLS S3
server in tests/faults/test_corporate_tls.py:

* delta-rs: the ``certificate_path`` storage option (deltalake >= 1.5.1,
  delta-io/delta-rs#4285; it falls back to ``$SSL_CERT_FILE`` itself);
* obstore: the ``root_certificate`` client option, added to the system roots;
* polars (``scan_delta``/``read_delta`` fetch data files with polars' own
  client): ignores every storage option for this and only reads
  ``$SSL_CERT_FILE``, so :func:`apply_ca_bundle` sets it for the process when
  it is unset.  Credentials come from environment variables or a named
AWS profile, never from the config file, and never appear in ``repr``, logs or
exception texts (see :func:`redact`).
"""

from __future__ import annotations

import configparser
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from obstore.store import LocalStore, S3Store

from coptwin.config import Config, StorageConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    """Resolved S3 credentials; ``repr`` never shows the secret parts."""

    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    source: str = "none"

    @property
    def present(self) -> bool:
        return bool(self.access_key_id and self.secret_access_key)

    def secrets(self) -> list[str]:
        return [s for s in (self.access_key_id, self.secret_access_key, self.session_token) if s]


def _profile_credentials(profile: str) -> Credentials | None:
    """Read a named profile from the AWS shared credentials file (portable, no boto)."""
    path = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", Path.home() / ".aws" / "credentials"))
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error) as exc:
        log.warning("cannot read AWS credentials file %s: %s", path, type(exc).__name__)
        return None
    if not parser.has_section(profile):
        return None
    sec = parser[profile]
    return Credentials(
        access_key_id=sec.get("aws_access_key_id"),
        secret_access_key=sec.get("aws_secret_access_key"),
        session_token=sec.get("aws_session_token"),
        source=f"profile {profile}",
    )


def resolve_credentials(cfg: StorageConfig) -> Credentials:
    """Credentials from the configured env variables, else the named profile."""
    key = os.environ.get(cfg.access_key_id_env)
    secret = os.environ.get(cfg.secret_access_key_env)
    if key and secret:
        return Credentials(key, secret, os.environ.get(cfg.session_token_env), source="environment")
    if cfg.profile:
        creds = _profile_credentials(cfg.profile)
        if creds is not None and creds.present:
            return creds
        log.warning("AWS profile %r not found or incomplete", cfg.profile)
    return Credentials()


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.strip("/")


def ca_bundle_file(cfg: StorageConfig) -> str | None:
    """The PEM bundle to trust besides the system roots: the config's, else ``$AWS_CA_BUNDLE``.

    ``$SSL_CERT_FILE`` needs no handling here: every client honours it already.
    """
    return cfg.ca_bundle or os.environ.get("AWS_CA_BUNDLE") or None


def delta_storage_options(cfg: StorageConfig, creds: Credentials | None = None) -> dict[str, str]:
    """``storage_options`` for deltalake (delta-rs); empty for local tables.

    Also makes the CA bundle known to polars (see :func:`apply_ca_bundle`), so
    every user of these options reads over a private CA alike.
    """
    if not cfg.is_s3:
        return {}
    apply_ca_bundle(cfg)
    creds = creds if creds is not None else resolve_credentials(cfg)
    opts: dict[str, str] = {"AWS_REGION": cfg.region}
    if cfg.endpoint:
        opts["AWS_ENDPOINT_URL"] = cfg.endpoint
    if cfg.allow_http:
        opts["AWS_ALLOW_HTTP"] = "true"
    if cfg.conditional_put:
        opts["AWS_CONDITIONAL_PUT"] = cfg.conditional_put
    else:
        # Without conditional put delta-rs needs a locking provider; a single writer is safe.
        opts["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
    if cfg.virtual_hosted_style:
        opts["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "true"
    if bundle := ca_bundle_file(cfg):
        opts["certificate_path"] = bundle
    if creds.present:
        opts["AWS_ACCESS_KEY_ID"] = creds.access_key_id or ""
        opts["AWS_SECRET_ACCESS_KEY"] = creds.secret_access_key or ""
        if creds.session_token:
            opts["AWS_SESSION_TOKEN"] = creds.session_token
    else:
        opts["AWS_SKIP_SIGNATURE"] = "true"
    return opts


def apply_ca_bundle(cfg: StorageConfig) -> None:
    """Make the CA bundle trusted by polars' HTTP client, which only reads ``$SSL_CERT_FILE``.

    delta-rs and obstore get the bundle as an option (``certificate_path``,
    ``root_certificate``).  An ``SSL_CERT_FILE`` the user set already is kept
    (it is a machine-wide choice); a note says so when it differs.
    """
    bundle = ca_bundle_file(cfg)
    if not bundle or not cfg.is_s3:
        return
    current = os.environ.get("SSL_CERT_FILE")
    if current is None:
        os.environ["SSL_CERT_FILE"] = bundle
        log.debug("SSL_CERT_FILE set to the CA bundle %s", bundle)
    elif Path(current) != Path(bundle):
        log.info(
            "SSL_CERT_FILE is already %s; polars reads data files trusting it, not %s",
            current,
            bundle,
        )


#: deltalake storage option -> obstore S3Config key
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
    "AWS_CONDITIONAL_PUT": "conditional_put",
}
_S3_BOOL_KEYS = {
    "AWS_SKIP_SIGNATURE": "skip_signature",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "virtual_hosted_style_request",
}
#: Options only delta-rs' commit path uses.
_DELTA_ONLY = {"AWS_S3_ALLOW_UNSAFE_RENAME", "AWS_S3_LOCKING_PROVIDER"}


def is_local(uri: str) -> bool:
    """True for plain paths (also ``C:\\...``) and ``file://`` URIs."""
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> Path:
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    return Path(uri).expanduser()


def _truthy(value: str) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def object_store(
    uri: str,
    storage_options: Mapping[str, str] | None = None,
    *,
    create: bool = False,
) -> LocalStore | S3Store:
    """The one obstore builder: a store rooted at ``uri`` (a path, ``file://`` or
    ``s3://``), configured by the same ``storage_options`` deltalake gets (see
    :func:`delta_storage_options`), so both agree on endpoint, region and credentials.

    A ``certificate_path`` option (delta-rs' name for a PEM bundle of extra roots, set
    from ``storage.ca_bundle``) is trusted for TLS; ``create`` makes a missing local root.
    """
    if is_local(uri):
        root = local_path(uri)
        if create:
            root.mkdir(parents=True, exist_ok=True)
        return LocalStore(str(root.resolve()))
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
        elif upper in ("AWS_ALLOW_HTTP", "ALLOW_HTTP"):
            client["allow_http"] = _truthy(value)
        elif upper == "CERTIFICATE_PATH":
            client["root_certificate"] = Path(value).read_bytes()
        elif upper not in _DELTA_ONLY:
            log.debug("storage option %s has no obstore equivalent", upper)
    prefix = parsed.path.strip("/") or None
    return S3Store(parsed.netloc, prefix=prefix, config=config, client_options=client)


def config_store(config: Config, table_path: str = "") -> LocalStore | S3Store:
    """:func:`object_store` at the configured storage URI (or ``table_path`` below it),
    with the config's credentials and CA bundle; a local root is created."""
    scfg = config.storage
    if scfg.is_s3:
        uri = "/".join(p for p in (scfg.uri.rstrip("/"), table_path.strip("/")) if p)
    else:
        uri = str(Path(config.resolve_path(scfg.uri)) / table_path)
    return object_store(uri, delta_storage_options(scfg), create=not scfg.is_s3)


_KEYISH = re.compile(r"(?i)(secret|signature|token|password|credential)[^\s,;&]*[=:]\s*[^\s,;&]+")


def redact(text: str, creds: Credentials | None = None) -> str:
    """Remove secrets from a message before it is logged or raised."""
    if creds is not None:
        for secret in creds.secrets():
            text = text.replace(secret, "***")
    return _KEYISH.sub(lambda m: m.group(0).split("=")[0].split(":")[0] + "=***", text)
