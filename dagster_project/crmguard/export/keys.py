"""Key material in the configuration directory: the Ed25519 signing key and the pseudonym key.

Location: --key-dir, else CRMGUARD_HOME, else ~/.config/crmguard. Both keys are generated on first use
with owner-only permissions. The public key is written beside the private one (and into every export)
so an auditor can pin it; the pseudonym key never leaves this directory, which is what makes the
pseudonyms keyed (nobody without it can test a guessed email against a pseudonym).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crmguard.errors import BadInput

SIGNING_KEY = "signing_key.pem"
PUBLIC_KEY = "signing_key.pub.pem"
PSEUDONYM_KEY = "pseudonym.key"


def key_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--key-dir, else CRMGUARD_HOME, else ~/.config/crmguard (created owner-only)."""
    value = explicit or os.environ.get("CRMGUARD_HOME") or Path.home() / ".config" / "crmguard"
    path = Path(value).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def signing_key(directory: Path) -> Ed25519PrivateKey:
    """The export signing key, generated (with its public half) on first use."""
    path = directory / SIGNING_KEY
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        _write_secret(path, pem)
        (directory / PUBLIC_KEY).write_bytes(public_pem(key.public_key()))
        return key
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise BadInput(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(f"{path}: the signing key must be Ed25519")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A pinned public key file (PEM), as handed to an auditor."""
    if not path.is_file():
        raise BadInput(f"{path}: public key file not found (pass --public-key or --key-dir)")
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError as exc:
        raise BadInput(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadInput(f"{path}: the public key must be Ed25519")
    return key


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key: names the key in manifests."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def pseudonym_key(directory: Path) -> bytes:
    """The 32-byte HMAC key for pseudonyms, generated on first use."""
    path = directory / PSEUDONYM_KEY
    if not path.exists():
        _write_secret(path, secrets.token_hex(32).encode())
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise BadInput(f"{path}: the pseudonym key must be 64 hex characters") from None
    if len(key) < 32:
        raise BadInput(f"{path}: the pseudonym key must be at least 32 bytes")
    return key
