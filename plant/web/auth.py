"""Who may act from the pages: operators with scrypt password hashes in a file, the session key, CSRF tokens.

The operators file (``[web] operators_file``) holds one ``name:scrypt$n$r$p$salt$hash`` a line (hex salt and
hash, a fresh 16-byte salt per operator), written by ``plant web add-operator NAME``. scrypt is the standard
library's memory-hard password hash (:func:`hashlib.scrypt`); the cost parameters are stored with each hash so
they can be raised later without breaking the operators already there. Sessions are Starlette's signed cookie;
its key is generated once into the state dir (``web-session.key``, readable by the plant's user only), so a
restart keeps operators signed in and nothing secret sits in plant.toml.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from plant.config import Settings
from plant.errors import ConfigError

#: scrypt cost: 2**14 blocks of 8 × 128 bytes (16 MiB, tens of milliseconds a check), one lane.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: Bytes of random salt per operator, and of the derived hash.
SALT_BYTES, HASH_BYTES = 16, 32
#: What an operator's name may be: it is written into events and shown on the pages.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
#: Fewest characters of a password.
MIN_PASSWORD = 8
#: The session key's file in the state dir.
SESSION_KEY_FILE = "web-session.key"
#: Seconds a sign-in lasts (a long shift).
SESSION_MAX_AGE_S = 12 * 3600
#: Message of every refused action when no operators file is configured.
NO_OPERATORS = (
    "Actions are off: no operators are configured. Set [web] operators_file in plant.toml and add an "
    "operator with `plant web add-operator NAME`, then restart `plant serve`."
)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The stored form of ``password``: ``scrypt$n$r$p$salt$hash`` with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=HASH_BYTES,
        maxmem=256 * 1024 * 1024,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (compared in constant time); False for a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


#: A hash that no password matches quickly: checked for unknown names, so they take as long as known ones.
_DUMMY = hash_password(secrets.token_hex(16))


def read_operators(path: Path) -> dict[str, str]:
    """Name → stored hash from the operators file (blank lines and ``#`` comments skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    operators = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        if not sep or not NAME.match(name):
            raise ConfigError(
                f"{path}:{number}: expected name:hash; rewrite it with `plant web add-operator NAME`.",
                key="web.operators_file",
            )
        operators[name] = stored
    return operators


def check_login(path: Path, name: str, password: str) -> bool:
    """Whether ``name`` is an operator in ``path`` and ``password`` is theirs."""
    stored = read_operators(path).get(name)
    ok = verify_password(password, stored or _DUMMY)
    return ok and stored is not None


def add_operator(path: Path, name: str, password: str) -> bool:
    """Add ``name`` to the operators file, or set their new password; True when they were new."""
    if not NAME.match(name):
        raise ConfigError(
            f"Operator name {name!r}: use letters, digits and . _ @ - (up to 64, starting with a "
            "letter or digit).",
            key="web.operators_file",
        )
    if len(password) < MIN_PASSWORD:
        raise ConfigError(
            f"The password must have at least {MIN_PASSWORD} characters.", key="web.operators_file"
        )
    operators = read_operators(path)
    new = name not in operators
    operators[name] = hash_password(password)
    _write_private(path, "".join(f"{n}:{h}\n" for n, h in operators.items()))
    return new


def session_key(settings: Settings) -> str:
    """The key signing session cookies: read from the state dir, generated there on first use."""
    path = settings.state_dir / SESSION_KEY_FILE
    if not path.exists():
        _write_private(path, secrets.token_hex(32) + "\n", exclusive=True)
    return path.read_text(encoding="utf-8").strip()


def _write_private(path: Path, text: str, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` readable by this user only (atomically, by rename; or create-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if exclusive:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def new_csrf_token() -> str:
    """A fresh per-session token every form carries."""
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Whether the form's token is the session's (constant-time)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
