"""S3 connection settings from the environment (`S3Settings`), the s3fs arguments built from them, and `redact`,
which keeps credentials out of every text the storage gives (errors, reprs, logs)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tasks.storage.retry import botocore_retries


class S3Settings(BaseSettings):
    """S3 connection settings from the environment (names in the aliases); any field can also be given by name.

    Endpoint precedence: GOVREPORTS_S3_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL. With no keys set, the
    default botocore chain applies (profile, web identity on Kubernetes, instance metadata).
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    access_key_id: SecretStr | None = Field(None, validation_alias=AliasChoices("access_key_id", "AWS_ACCESS_KEY_ID"))
    secret_access_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("secret_access_key", "AWS_SECRET_ACCESS_KEY"))
    session_token: SecretStr | None = Field(None, validation_alias=AliasChoices("session_token", "AWS_SESSION_TOKEN"))
    region: str | None = Field(None, validation_alias=AliasChoices("region", "AWS_REGION", "AWS_DEFAULT_REGION"))
    endpoint_url: str | None = Field(None, validation_alias=AliasChoices(
        "endpoint_url", "GOVREPORTS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"))
    connect_timeout: float = Field(10.0, validation_alias=AliasChoices("connect_timeout", "GOVREPORTS_S3_CONNECT_TIMEOUT"))
    read_timeout: float = Field(60.0, validation_alias=AliasChoices("read_timeout", "GOVREPORTS_S3_READ_TIMEOUT"))
    # botocore's `max_attempts`: retries after the first try (botocore's config counts them so), the only layer
    # retrying S3 requests (tasks/storage/retry.py). 5 (6 tries) keeps a 10%-faulted server (tests/test_faults.py)
    # from failing a request (0.08 ** 6 ≈ 3e-7) with ~15 s of expected backoff before a persistent error is
    # reported; before, 4 Store tries × 5 botocore tries ran stacked
    max_attempts: int = Field(5, validation_alias=AliasChoices("max_attempts", "GOVREPORTS_S3_MAX_ATTEMPTS"))
    max_pool_connections: int = Field(64, validation_alias=AliasChoices(
        "max_pool_connections", "GOVREPORTS_S3_MAX_POOL_CONNECTIONS"))
    # "auto": path style and checksums "when_required" for a custom (non-AWS) endpoint, AWS defaults otherwise.
    addressing_style: str = Field("auto", validation_alias=AliasChoices("addressing_style", "GOVREPORTS_S3_ADDRESSING_STYLE"))
    checksum_calculation: str = Field("auto", validation_alias=AliasChoices(
        "checksum_calculation", "GOVREPORTS_S3_CHECKSUM_CALCULATION"))

    @property
    def is_custom_endpoint(self) -> bool:
        return bool(self.endpoint_url) and "amazonaws.com" not in (self.endpoint_url or "")

    @property
    def effective_region(self) -> str | None:
        return self.region or ("us-east-1" if self.endpoint_url else None)

    def secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.access_key_id, self.secret_access_key, self.session_token)
                if s is not None and len(s.get_secret_value()) >= 4]

    def __repr__(self) -> str:  # never the keys
        return f"S3Settings(endpoint_url={self.endpoint_url!r}, region={self.region!r})"

    __str__ = __repr__


_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
_SIGNED_PARAMS = re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s]+", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove credentials from text: URL userinfo, presigned-URL parameters, and the given or configured secrets."""
    out = _SIGNED_PARAMS.sub(r"\1***", _URL_USERINFO.sub(r"\1***@", str(text)))
    values = set(secrets)
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        value = os.environ.get(name)
        if value and len(value) >= 4:
            values.add(value)
    for value in sorted(values, key=len, reverse=True):
        out = out.replace(value, "***")
    return out


def s3fs_kwargs(s: S3Settings) -> dict[str, Any]:
    """Arguments for ``s3fs.S3FileSystem`` (they include the keys: never log them). Request retries are botocore's
    own (tasks/storage/retry.py)."""
    config: dict[str, Any] = {
        "connect_timeout": s.connect_timeout,
        "read_timeout": s.read_timeout,
        "retries": botocore_retries(s.max_attempts),
        "max_pool_connections": s.max_pool_connections,
    }
    style = s.addressing_style if s.addressing_style != "auto" else ("path" if s.is_custom_endpoint else None)
    if style:
        config["s3"] = {"addressing_style": style}
    checksum = (s.checksum_calculation if s.checksum_calculation != "auto"
                else ("when_required" if s.is_custom_endpoint else None))
    if checksum:  # recent botocore adds CRC checksums that some S3-compatible servers reject
        config["request_checksum_calculation"] = checksum
        config["response_checksum_validation"] = checksum
    kwargs: dict[str, Any] = {"config_kwargs": config, "use_listings_cache": False}
    if s.endpoint_url:
        kwargs["endpoint_url"] = s.endpoint_url
    if s.effective_region:
        kwargs["client_kwargs"] = {"region_name": s.effective_region}
    if s.access_key_id is not None:
        kwargs["key"] = s.access_key_id.get_secret_value()
    if s.secret_access_key is not None:
        kwargs["secret"] = s.secret_access_key.get_secret_value()
    if s.session_token is not None:
        kwargs["token"] = s.session_token.get_secret_value()
    return kwargs
