"""What a password must be (OWASP ASVS V2.1): long enough, not a known common or breached password,
not built from the account's own name. The common-password check is zxcvbn's, whose frequency lists
(common passwords, words, names, keyboard patterns) ship inside the package: nothing is fetched."""

from __future__ import annotations

from zxcvbn import zxcvbn

MIN_LENGTH = 8
MAX_LENGTH = 1024
MIN_SCORE = 2  # zxcvbn 0..4; 2 = "somewhat guessable" (about 10^8 guesses), below it are common passwords
# zxcvbn refuses more than 72 characters (its cost grows with length): the first 72 decide, a longer
# password only gets stronger.
_CHECKED_CHARS = 72


class WeakPassword(ValueError):
    pass


def check_password(password: str, username: str = "", *context: str) -> None:
    """Raise ``WeakPassword`` with a reason a user can act on; return quietly when acceptable."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password may have at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if username and username.lower() in lowered and len(password) - len(username) < MIN_LENGTH:
        raise WeakPassword("password must not be the user name or built from it")
    inputs = [x for x in (username, *context) if x]
    result = zxcvbn(password[:_CHECKED_CHARS], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        hint = (result.get("feedback") or {}).get("warning") or "it is a common or easily guessed password"
        raise WeakPassword(f"password is too weak: {hint}")
