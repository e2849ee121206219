"""Dashboard accounts: sign-up, e-mailed codes, verification, login, password reset.

Passwords are hashed with scrypt (werkzeug's default: salted, memory-hard). Codes are six
digits, mailed, kept only as a keyed hash, valid for CODE_MINUTES and MAX_CODE_ATTEMPTS tries,
and used once; a new code replaces the old ones of the same purpose. A code is drawn by the
mail task itself (issue_code), so it never travels in a queued message: the task is given the
address and what the mail is for.

Nothing here tells whether an address has an account: sign-up of a taken address spends a hash
like a new one, and every refused code gets the same message.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from functools import cache

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models import EmailCode, User
from app.models.types import utcnow

CODE_MINUTES = 30
MAX_CODE_ATTEMPTS = 5
MIN_PASSWORD_LENGTH = 10
MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit; the sign-up form says the same
VERIFY, RESET = "verify", "reset"
CODE_REFUSED = "That code is not right, has expired or was tried too often; ask for a new one."


class AccountError(Exception):
    """A request the account rules refuse; the message is fit to show."""


def user_of_session(session_id: str) -> User | None:
    """The account of a session id "<user id>:<session version>", if that version is current
    (the login manager's user loader, registered by create_app)."""
    user_id, _, version = session_id.partition(":")
    try:
        key, current = int(user_id), int(version)
    except ValueError:
        return None  # a cookie from before session versions
    user = db.session.get(User, key)
    return user if user is not None and user.session_version == current else None


def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def check_email(email: str) -> None:
    """The sign-up form's rule for an address (email-validator, no DNS lookup; 254 characters),
    for callers without the form (the admin command)."""
    if len(email) > MAX_EMAIL_LENGTH:
        raise AccountError(f"An e-mail address has at most {MAX_EMAIL_LENGTH} characters.")
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError(f"Invalid e-mail address: {exc}")


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")


def sign_up(email: str, password: str) -> User | None:
    """A new, unverified account; None when the address is taken (after the same work)."""
    check_email(email)
    check_password_rules(password)
    password_hash = generate_password_hash(password)  # before the lookup: same time either way
    if find_user(email) is not None:
        return None
    user = User(email=normalize_email(email), password_hash=password_hash)
    db.session.add(user)
    db.session.commit()
    return user


def _hash_code(secret: str, user_id: int, code: str) -> str:
    return hmac.new(secret.encode(), f"{user_id}:{code}".encode(), hashlib.sha256).hexdigest()


def issue_code(user: User, purpose: str, secret: str) -> str:
    """A fresh code for `purpose`, replacing earlier ones; returns it (to be mailed). Called by
    the mail task, so the code never waits in a queue."""
    code = f"{secrets.randbelow(10**6):06d}"
    now = utcnow()
    db.session.execute(
        update(EmailCode)
        .where(EmailCode.user_id == user.id, EmailCode.purpose == purpose)
        .where(EmailCode.used_at.is_(None))
        .values(used_at=now)
    )
    db.session.add(
        EmailCode(
            user_id=user.id,
            purpose=purpose,
            code_hash=_hash_code(secret, user.id, code),
            expires_at=now + timedelta(minutes=CODE_MINUTES),
        )
    )
    db.session.commit()
    return code


def use_code(user: User, purpose: str, code: str, secret: str) -> None:
    """Spend a code; AccountError when it is wrong, expired, used up or over its attempts."""
    now = utcnow()
    current = db.session.scalar(
        select(EmailCode)
        .where(EmailCode.user_id == user.id, EmailCode.purpose == purpose)
        .where(EmailCode.used_at.is_(None))
        .order_by(EmailCode.id.desc())
    )
    # One message for every refusal: which one it was would tell that the address has an
    # account with a code waiting.
    if current is None or current.expires_at <= now or current.attempts >= MAX_CODE_ATTEMPTS:
        raise AccountError(CODE_REFUSED)
    current.attempts += 1
    if not hmac.compare_digest(current.code_hash, _hash_code(secret, user.id, code.strip())):
        db.session.commit()
        raise AccountError(CODE_REFUSED)
    current.used_at = now
    db.session.commit()


def verify_email(user: User, code: str, secret: str) -> None:
    use_code(user, VERIFY, code, secret)
    verify_email_now(user)


def authenticate(email: str, password: str) -> User | None:
    """The account these credentials open, or None."""
    user = find_user(email)
    if user is None:
        # Spend the same time as a real check, so timing does not tell who has an account.
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def reset_password(user: User, code: str, password: str, secret: str) -> None:
    check_password_rules(password)
    use_code(user, RESET, code, secret)
    user.password_hash = generate_password_hash(password)
    user.session_version = User.session_version + 1  # whoever knew the old password is out
    db.session.commit()


def end_sessions(user: User) -> None:
    """Make every session of this account, on every device, stop working."""
    user.session_version = User.session_version + 1  # in SQL: two at once both count
    db.session.commit()


@cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def verify_email_now(user: User) -> None:
    """Mark the address confirmed (a reset code that came through it proves it too)."""
    user.verified_at = utcnow()
    db.session.commit()
