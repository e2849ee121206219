"""Account pages: sign up, verify the e-mail, log in and out, reset the password.

No answer tells whether an address has an account: sign-up, verify, resend and reset answer
the same status and page for both (tests/dashboard/test_account_hardening.py compares them)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from app.dashboard.forms import (
    EmptyForm,
    LoginForm,
    ResetForm,
    ResetRequestForm,
    SignUpForm,
    VerifyForm,
)
from app.models import User
from app.services import apps as app_service
from app.services.accounts import users as accounts
from app.services.accounts.users import AccountError
from app.tasks.emails import CONFIRM, RESET, SIGN_UP, send_account_mail

web_accounts = Blueprint("accounts", __name__)


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _ip() -> str:
    # The client's own address: behind nginx, ProxyFix (TRUSTED_PROXIES) has put it here.
    return str(request.remote_addr)


def _ip_key() -> str:
    return f"ip:{_ip()}"


def _count(limits: list[tuple[str, str]], refusal: str) -> None:
    """Count one request against each (throttle, key) in turn; 429 at the first one over.

    In turn, so a request refused by its own (address, IP) quota spends nothing of the ones
    shared with other clients: an attacker cannot use up the owner's share that way."""
    for throttle, key in limits:
        wait = current_app.extensions[throttle].hit(key)
        if wait:
            abort(429, description=f"{refusal} Try again in {wait} seconds.")


def _attempt(account_key: str) -> None:
    """Count a login against the address and the client's IP; 429 when over either limit.

    Counted before it is judged, so parallel tries cannot all slip under the limit; a success
    gives it back (_succeeded): only failures stay counted."""
    extensions = current_app.extensions
    waits = [
        extensions["account_throttle"].hit(account_key),
        extensions["ip_throttle"].hit(_ip_key()),
    ]
    if max(waits):
        abort(
            429,
            description=f"Too many failed attempts; try again in {max(waits)} seconds, "
            "or reset your password.",
        )


def _succeeded(account_key: str) -> None:
    """A right password or code: the address starts afresh and the IP gets its attempt back."""
    current_app.extensions["account_throttle"].forget(account_key)
    current_app.extensions["ip_throttle"].refund(_ip_key())


def _code_try(email: str) -> None:
    """Count a code try per (address, IP), per IP, then per address; 429 at the first over.

    Not per address alone like logins: others' wrong codes must not stop the owner entering
    the one mailed to them. Guessing stays bounded by the per-address count (see app/config.py)
    and MAX_CODE_ATTEMPTS per code."""
    _count(
        [
            ("account_throttle", f"code:{email}@{_ip()}"),
            ("ip_throttle", _ip_key()),
            ("code_address_throttle", f"code-hour:{email}"),
        ],
        "Too many code tries.",
    )


def _code_succeeded(email: str) -> None:
    """A right code proves the mailbox: the address's login failures and code tries start
    afresh, so its owner can log in at once, and the IP gets its try back."""
    extensions = current_app.extensions
    extensions["account_throttle"].forget(f"login:{email}")
    extensions["account_throttle"].forget(f"code:{email}@{_ip()}")
    extensions["code_address_throttle"].forget(f"code-hour:{email}")
    extensions["ip_throttle"].refund(_ip_key())


def _limit_mail(email: str) -> None:
    """Count an account mail per (address, IP), per IP, then per address (known or not)."""
    _count(
        [
            ("mail_pair_throttle", f"mail:{email}@{_ip()}"),
            ("mail_ip_throttle", f"mail-ip:{_ip()}"),
            ("mail_address_throttle", f"mail-hour:{email}"),
        ],
        "Too many e-mails asked for.",
    )


def _mail(email: str, reason: str) -> None:
    # Queued alike for every address: the task looks the account up and draws any code itself.
    send_account_mail.delay(email, reason)


@web_accounts.route("/signup", methods=["GET", "POST"])
def signup():
    form = SignUpForm()
    if form.validate_on_submit():
        email = accounts.normalize_email(form.email.data)
        _limit_mail(email)
        try:
            # A taken address: no new account, and its owner gets a mail (a code if still
            # unconfirmed, else a notice); the visitor is told what a new one is told.
            accounts.sign_up(email, form.password.data)
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            _mail(email, SIGN_UP)
            flash(f"We sent an e-mail to {email}: enter the six-digit code from it.", "info")
            return redirect(url_for("accounts.verify", email=email))
    return render_template("accounts/signup.html", form=form)


@web_accounts.route("/verify", methods=["GET", "POST"])
def verify():
    form = VerifyForm()
    if request.method == "GET":
        form.email.data = request.args.get("email", "")
    if form.validate_on_submit():
        email = accounts.normalize_email(form.email.data)
        _code_try(email)
        user = accounts.find_user(email)
        try:
            if user is None:
                raise AccountError(accounts.CODE_REFUSED)
            accounts.verify_email(user, form.code.data, _secret())
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            _code_succeeded(email)
            _log_in(user)
            flash("Your e-mail address is confirmed.", "info")
            _confirmed(user)
            return redirect(url_for("apps.index"))
    return render_template("accounts/verify.html", form=form)


@web_accounts.route("/verify/resend", methods=["POST"])
def resend():
    email = accounts.normalize_email(request.form.get("email", ""))  # CSRFProtect checked it
    if email:
        _limit_mail(email)
        _mail(email, CONFIRM)
    flash("If that address has an unconfirmed account, a new code is on its way.", "info")
    return redirect(url_for("accounts.verify", email=email))


def _confirmed(user: User) -> None:
    """The account's address is confirmed: in micro, the first such account gets the demo app.
    On confirmation rather than sign-up, so an address typed wrong cannot take it."""
    demo = current_app.config["DEMO_APP_ID"]
    if demo is not None and app_service.claim_if_unowned(demo, user.id):
        flash("The demo app is yours: its events are on its live page.", "info")


def _log_in(user: User) -> None:
    session.clear()  # nothing of an earlier visitor's session carries over
    login_user(user)


@web_accounts.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        email = accounts.normalize_email(form.email.data)
        key = f"login:{email}"
        _attempt(key)
        user = accounts.authenticate(email, form.password.data)
        if user is None:
            flash("Wrong e-mail address or password.", "error")
        else:
            _code_succeeded(email)  # the new password logs in at once
            if user.verified_at is None:
                flash("Confirm your e-mail address first: enter the code we sent.", "error")
                return redirect(url_for("accounts.verify", email=user.email))
            _log_in(user)
            return redirect(url_for("apps.index"))
    return render_template("accounts/login.html", form=form)


@web_accounts.route("/logout", methods=["POST"])
@login_required
def logout():
    if EmptyForm().validate_on_submit():
        logout_user()
        session.clear()
    return redirect(url_for("accounts.login"))


@web_accounts.route("/logout/everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    """End every session of this account, on every device (this one too)."""
    if EmptyForm().validate_on_submit():
        accounts.end_sessions(current_user)
        logout_user()
        session.clear()
        flash("You are logged out everywhere.", "info")
    return redirect(url_for("accounts.login"))


@web_accounts.route("/reset", methods=["GET", "POST"])
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        email = accounts.normalize_email(form.email.data)
        _limit_mail(email)
        _mail(email, RESET)
        # The same answer whether or not the address has an account.
        flash("If that address has an account, a code is on its way.", "info")
        return redirect(url_for("accounts.reset", email=email))
    return render_template("accounts/reset_request.html", form=form)


@web_accounts.route("/reset/confirm", methods=["GET", "POST"])
def reset():
    form = ResetForm()
    if request.method == "GET":
        form.email.data = request.args.get("email", "")
    if form.validate_on_submit():
        email = accounts.normalize_email(form.email.data)
        # Not held back by the address's login failures: a mailed code is the way back in.
        _code_try(email)
        user = accounts.find_user(email)
        try:
            accounts.check_password_rules(form.password.data)  # first, for known and unknown
            if user is None:
                raise AccountError(accounts.CODE_REFUSED)
            accounts.reset_password(user, form.code.data, form.password.data, _secret())
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            _code_succeeded(email)  # the new password logs in at once
            if user.verified_at is None:  # the code came through the mailbox: it is theirs
                accounts.verify_email_now(user)
                _confirmed(user)
            logout_user()  # whoever is logged in here logs in again, with the new password
            session.clear()
            flash("Your password is changed; log in with it.", "info")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset.html", form=form)


@web_accounts.get("/")
def home():
    return redirect(url_for("apps.index" if current_user.is_authenticated else "accounts.login"))
