"""Unbound extension objects; create_app binds them."""

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every model."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = "Log in to see this page."


@login_manager.user_loader
def _load_user(session_id: str):
    """The account of a session id "<user id>:<session version>", if that version is current."""
    from app.models import User

    user_id, _, version = session_id.partition(":")
    try:
        key, current = int(user_id), int(version)
    except ValueError:
        return None  # a cookie from before session versions
    user = db.session.get(User, key)
    return user if user is not None and user.session_version == current else None
