"""What reading a Delta table through obstore needs besides the store itself
(:func:`coptwin.storage.object_store` builds that): the errors a store raises and
messages with the credentials of ``storage_options`` removed.
"""

from __future__ import annotations

from obstore.exceptions import BaseError, NotFoundError

from coptwin.storage import Credentials, redact

#: obstore raises its own NotFoundError or the builtin FileNotFoundError, depending on store.
NOT_FOUND: tuple[type[BaseException], ...] = (NotFoundError, FileNotFoundError)
#: Anything a store may raise for I/O trouble.
STORE_ERRORS: tuple[type[BaseException], ...] = (BaseError, OSError)


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
