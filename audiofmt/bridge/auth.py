"""Who may open a bridge call, and what the bridge never prints.

- `twilio_signature(token, url)`: Twilio's request signature, base64(HMAC-SHA1(auth token, URL)).
  A Media Streams WebSocket upgrade is a GET with no body, so the signed string is the URL alone,
  exactly as written in the TwiML `<Stream url>` (Twilio allows no query string there).
- `Auth`: checks an upgrade request's path and `X-Twilio-Signature` against the public URL (the
  one Twilio connects to; behind a TLS proxy it differs from the local address) and/or a secret
  path token, in constant time.
- `redact_url`, `RedactingFilter`: keep keys, tokens and signatures out of logs, including the
  `Authorization` header that WebSocket libraries print at debug levels.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["SIGNATURE_HEADER", "Auth", "RedactingFilter", "redact_url", "twilio_signature"]

SIGNATURE_HEADER = "X-Twilio-Signature"
_SECRET_QUERY_KEYS = re.compile(r"(key|token|secret|password|passwd|signature|sig|auth|credential)", re.IGNORECASE)
_DEFAULT_PORTS = {"wss": 443, "https": 443, "ws": 80, "http": 80}


def twilio_signature(auth_token: str, url: str) -> str:
    """Twilio's X-Twilio-Signature for a request with no POST parameters: base64 HMAC-SHA1 of `url`."""
    mac = hmac.new(auth_token.encode("utf-8"), url.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """`url` as given, without its port, and (when it has none) with a default port: Twilio's own
    validators accept these because its signing is not consistent about default ports."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    without = urlunsplit((parts.scheme, prefix + host, parts.path, parts.query, parts.fragment))
    variants = [url, without]
    if parts.port is None:
        # the scheme's default port, and the one Twilio's own validators add (443 only for https,
        # else 80): each is still an HMAC with the auth token, so accepting both costs nothing
        for port in (_DEFAULT_PORTS.get(parts.scheme), 443 if parts.scheme == "https" else 80):
            if port is not None:
                variants.append(urlunsplit((parts.scheme, f"{prefix}{host}:{port}", parts.path, parts.query, parts.fragment)))
    return list(dict.fromkeys(variants))


@dataclass(frozen=True)
class Auth:
    """What an upgrade request must show.

    public_url: the URL Twilio connects to and signs, e.g. "wss://bridge.example.com/twilio"; its
        path is the bridge's route (a request to another path is refused).
    twilio_auth_token: the account's auth token; when set, `X-Twilio-Signature` must match.
    path_token: a secret last path segment ("/twilio/<token>"), compared in constant time.
    Neither set means no authentication (only allowed on loopback, see the CLI).
    """

    public_url: str = "ws://localhost/"
    twilio_auth_token: str | None = None
    path_token: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.twilio_auth_token or self.path_token)

    @property
    def route(self) -> str:
        """The request path the bridge serves (the public URL's path, plus the token when set)."""
        path = urlsplit(self.public_url).path or "/"
        if self.path_token:
            path = path.rstrip("/") + "/" + self.path_token
        return path

    @property
    def signed_url(self) -> str:
        """The URL whose signature Twilio sends: the public URL with the route as its path."""
        parts = urlsplit(self.public_url)
        return urlunsplit((parts.scheme, parts.netloc, self.route, "", ""))

    def check(self, path: str, signature: str | None) -> str | None:
        """None when the request may proceed, else why not (for the log; never sent to the peer).

        `path` is the request target as received (path and any query string)."""
        route = self.route.encode("utf-8", "surrogateescape")
        given = path.split("?", 1)[0].encode("utf-8", "surrogateescape")
        # constant time whatever the path holds: a wrong token takes as long as a right one
        path_ok = hmac.compare_digest(given, route)
        if self.twilio_auth_token is not None:
            if not signature:
                return f"no {SIGNATURE_HEADER} header"
            target = urlsplit(self.public_url)
            # the signed URL keeps the request's query string, as Twilio signs the URL it requested
            query = path.split("?", 1)[1] if "?" in path else ""
            url = urlunsplit((target.scheme, target.netloc, self.route, query, ""))
            good = False
            for variant in _port_variants(url):
                expected = twilio_signature(self.twilio_auth_token, variant).encode("ascii")
                good |= hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape"))
            if not good:
                return f"{SIGNATURE_HEADER} does not match the public URL"
        if not path_ok:
            return "wrong path"
        return None


def redact_url(url: str) -> str:
    """`url` with secrets replaced by "REDACTED": query values whose names look like keys or tokens,
    and a password in the userinfo. Safe to log."""
    try:
        parts = urlsplit(url)
        query = urlencode([(k, "REDACTED" if _SECRET_QUERY_KEYS.search(k) else v)
                           for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="")
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            netloc = ("REDACTED" if ":" in userinfo or userinfo else "") + "@" + hostport
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable URL>"


_HEADER_SECRETS = re.compile(
    r"(?i)\b(authorization|proxy-authorization|x-twilio-signature|cookie|set-cookie|api-key|openai-api-key)"
    r"(\s*[:=]\s*)([^\r\n]+)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
_FRAME = re.compile(r"^([<>] (?:TEXT|BINARY|CONT|PING|PONG))\b.*?(\[\d+ bytes[^\]]*\])$", re.DOTALL)


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites a record's message with secrets removed: known secret values
    (API key, path token), credential headers, bearer tokens, sk-… keys and secret URL query values.

    Attach it to a logger that records are *created* on (filters on a logger do not see records
    propagated from its children): the bridge passes such loggers to picows, and attaches one
    to "audiofmt.bridge" itself."""

    def __init__(self, secrets: tuple[str, ...] = (), frames: bool = False) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)
        self.frames = frames  # also hide WebSocket frame contents (caller audio, DTMF digits)

    def redact(self, text: str) -> str:
        if self.frames:
            text = _FRAME.sub(r"\1 [contents not logged] \2", text)
        # picows logs HTTP requests as a bytes repr: "...\\r\\nAuthorization: Bearer ..." (no word
        # boundary before the header name); as real line breaks the header rules below apply
        text = text.replace("\\r\\n", "\r\n")
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        text = _HEADER_SECRETS.sub(lambda m: m.group(1) + m.group(2) + "[redacted]", text)
        text = _BEARER.sub(lambda m: m.group(1) + " [redacted]", text)
        text = _OPENAI_KEY.sub("sk-[redacted]", text)
        return re.sub(r"\b(?:wss?|https?)://[^\s'\"]+", lambda m: redact_url(m.group(0)), text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            # exceptions are formatted later by the handler; render them now, redacted
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def redacting_logger(name: str, secrets: tuple[str, ...], frames: bool = False) -> logging.Logger:
    """The logger `name` with a RedactingFilter for `secrets` (replacing an earlier one); `frames`
    also hides WebSocket frame contents (websockets-style frame lines)."""
    logger = logging.getLogger(name)
    for old in [f for f in logger.filters if isinstance(f, RedactingFilter)]:
        logger.removeFilter(old)
    logger.addFilter(RedactingFilter(secrets, frames))
    return logger
