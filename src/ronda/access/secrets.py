"""Secrets at rest: camera passwords and webhook secrets are encrypted with a key kept outside the database."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ronda.access import keys

# Marks a secret stored inside a JSON document (a rule's webhook action): the document also holds
# values that are not secret, so the encrypted ones say what they are.
SEALED_PREFIX = "sealed:v1:"


class SecretBox:
    """Encrypts short secrets (camera passwords) with a Fernet key stored in ``DATA/keys``."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def load_or_create(cls, key_file: Path) -> SecretBox:
        return cls(keys.fernet_key(key_file))

    def encrypt(self, plaintext: str | None) -> str | None:
        if plaintext is None or plaintext == "":
            return None
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str | None) -> str | None:
        if not token:
            return None
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("camera secret cannot be decrypted with this site's key") from None

    def seal(self, plaintext: str) -> str:
        """``plaintext`` encrypted for a JSON document: ``sealed:v1:<Fernet token>``."""
        return SEALED_PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def unseal(self, value: str) -> str:
        """The plaintext of a sealed value; a value stored before sealing existed comes back as it is
        (``ronda`` seals it on the next save of its rule)."""
        if not value.startswith(SEALED_PREFIX):
            return value
        try:
            return self._fernet.decrypt(value[len(SEALED_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ValueError("sealed secret cannot be decrypted with this site's key") from None
