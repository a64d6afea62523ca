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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

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


def object_store(config: Config, table_path: str = ""):
    """An obstore store rooted at the storage URI (optionally at a table below it)."""
    from obstore.store import LocalStore, S3Store

    scfg = config.storage
    if not scfg.is_s3:
        root = Path(config.resolve_path(scfg.uri)) / table_path
        root.mkdir(parents=True, exist_ok=True)
        return LocalStore(str(root))
    bucket, prefix = split_s3_uri(scfg.uri)
    prefix = "/".join(p for p in (prefix, table_path.strip("/")) if p)
    creds = resolve_credentials(scfg)
    s3cfg: dict[str, object] = {"region": scfg.region}
    if scfg.endpoint:
        s3cfg["endpoint"] = scfg.endpoint
    if scfg.virtual_hosted_style:
        s3cfg["virtual_hosted_style_request"] = True
    if creds.present:
        s3cfg["access_key_id"] = creds.access_key_id
        s3cfg["secret_access_key"] = creds.secret_access_key
        if creds.session_token:
            s3cfg["session_token"] = creds.session_token
    else:
        s3cfg["skip_signature"] = True
    if scfg.conditional_put:
        s3cfg["conditional_put"] = scfg.conditional_put
    client: dict[str, object] = {"allow_http": scfg.allow_http}
    if bundle := ca_bundle_file(scfg):
        client["root_certificate"] = Path(config.resolve_path(bundle)).read_bytes()
    return S3Store(bucket, prefix=prefix or None, config=s3cfg, client_options=client)


_KEYISH = re.compile(r"(?i)(secret|signature|token|password|credential)[^\s,;&]*[=:]\s*[^\s,;&]+")


def redact(text: str, creds: Credentials | None = None) -> str:
    """Remove secrets from a message before it is logged or raised."""
    if creds is not None:
        for secret in creds.secrets():
            text = text.replace(secret, "***")
    return _KEYISH.sub(lambda m: m.group(0).split("=")[0].split(":")[0] + "=***", text)
