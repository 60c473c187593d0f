"""C2 AK/SK request signing for Huawei CC-iSales, behind one function so the scheme can be swapped.

Huawei does not publish the exact Authorization format (vendors.md §2.1: the rule is an image and
Java code that public copies cut off). The default scheme, `auth-v2`, follows the documented
ingredients (AK, SK, a canonical request, HMAC-SHA256) in the `auth-v2/{AK}/{timestamp}/
{signedHeaders}/{signature}` shape that CEC demos are recalled to use. It is a hypothesis until
checked against Huawei's SignInfo.java or a test vector; docs/huawei.md, "Signing", says exactly
what is sent. Set HUAWEI_SIGNER to `none`, or to `package.module:function` for your own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib
from urllib.parse import quote, urlsplit

SIGNED_HEADERS = ("content-type", "host")


def canonical_request(method: str, url: str, headers: dict, body: bytes, signed: tuple[str, ...]) -> str:
    """METHOD, path, sorted query, signed headers (name:value), their names, and sha256(body)."""
    parts = urlsplit(url)
    path = quote(parts.path or "/", safe="/-_.~")
    query = "&".join(sorted(p for p in parts.query.split("&") if p))
    lowered = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    header_lines = "\n".join(f"{name}:{lowered.get(name, '')}" for name in signed)
    return "\n".join(
        [method.upper(), path, query, header_lines, ";".join(signed), hashlib.sha256(body or b"").hexdigest()]
    )


def sign_auth_v2(method: str, url: str, headers: dict, body: bytes, ak: str, sk: str, now: dt.datetime) -> dict:
    """Headers to add: Authorization = auth-v2/{AK}/{UTC timestamp}/{signedHeaders}/{hex signature}."""
    headers = {**headers, "Host": urlsplit(url).netloc}
    timestamp = now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    prefix = f"auth-v2/{ak}/{timestamp}/{';'.join(SIGNED_HEADERS)}"
    signing_key = hmac.new(sk.encode(), prefix.encode(), hashlib.sha256).hexdigest()
    signature = hmac.new(
        signing_key.encode(), canonical_request(method, url, headers, body, SIGNED_HEADERS).encode(), hashlib.sha256
    ).hexdigest()
    return {"Authorization": f"{prefix}/{signature}"}


def sign_none(method, url, headers, body, ak, sk, now) -> dict:
    """No signature (a gateway in front of iSales signs, or a lab server without auth)."""
    return {}


BUILT_IN = {"auth-v2": sign_auth_v2, "none": sign_none}


def signer(name: str):
    """The signing function HUAWEI_SIGNER names: a built-in scheme or `module:function`."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    module, _, function = name.partition(":")
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(
            f"HUAWEI_SIGNER={name!r} is neither auth-v2, none, nor an importable module:function"
        ) from None
