"""Account pages: sign up, verify the e-mail, log in and out, reset the password."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.services import accounts
from app.services.accounts import RESET, VERIFY, AccountError
from app.tasks.emails import send_email_async
from app.web.forms import EmptyForm, LoginForm, ResetForm, ResetRequestForm, SignUpForm, VerifyForm

web_accounts = Blueprint("accounts", __name__)


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _throttled(*keys: str) -> bool:
    """Count an attempt under each key; True when any is over its limit."""
    throttle = current_app.extensions["login_throttle"]
    return any([throttle.hit(key) for key in keys])  # a list: every key counts the attempt


def _mail_code(user, purpose: str) -> None:
    code = accounts.issue_code(user, purpose, _secret())
    what = "confirm your e-mail address" if purpose == VERIFY else "choose a new password"
    subject = f"Your Live Validation code: {code}"
    text = (
        f"Your code is {code}. Enter it to {what}.\n\n"
        f"It works once, for {accounts.CODE_MINUTES} minutes. If you did not ask for it, "
        "ignore this e-mail."
    )
    html = render_template("mail/code.html", code=code, what=what, minutes=accounts.CODE_MINUTES)
    send_email_async.delay([user.email], subject, text, html)


@web_accounts.route("/signup", methods=["GET", "POST"])
def signup():
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            user = accounts.sign_up(form.email.data, form.password.data)
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            _mail_code(user, VERIFY)
            flash(f"We sent a six-digit code to {user.email}.", "info")
            return redirect(url_for("accounts.verify", email=user.email))
    return render_template("accounts/signup.html", form=form)


@web_accounts.route("/verify", methods=["GET", "POST"])
def verify():
    form = VerifyForm()
    if request.method == "GET":
        form.email.data = request.args.get("email", "")
    if form.validate_on_submit():
        user = accounts.find_user(form.email.data)
        if _throttled(f"code:{form.email.data.lower()}", f"ip:{request.remote_addr}"):
            abort(429)
        try:
            if user is None:
                raise AccountError("That code is not right.")
            accounts.verify_email(user, form.code.data, _secret())
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            login_user(user)
            flash("Your e-mail address is confirmed.", "info")
            return redirect(url_for("apps.index"))
    return render_template("accounts/verify.html", form=form)


@web_accounts.route("/verify/resend", methods=["POST"])
def resend():
    form = VerifyForm()
    user = accounts.find_user(form.email.data or "")
    if user is not None and user.verified_at is None:
        if _throttled(f"mail:{user.email}"):
            abort(429)
        _mail_code(user, VERIFY)
    flash("If that address has an unconfirmed account, a new code is on its way.", "info")
    return redirect(url_for("accounts.verify", email=form.email.data or ""))


@web_accounts.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        email = accounts.normalize_email(form.email.data)
        if _throttled(f"login:{email}", f"ip:{request.remote_addr}"):
            abort(429)
        user = accounts.authenticate(email, form.password.data)
        if user is None:
            flash("Wrong e-mail address or password.", "error")
        elif user.verified_at is None:
            flash("Confirm your e-mail address first: enter the code we sent.", "error")
            return redirect(url_for("accounts.verify", email=user.email))
        else:
            login_user(user)
            return redirect(url_for("apps.index"))
    return render_template("accounts/login.html", form=form)


@web_accounts.route("/logout", methods=["POST"])
@login_required
def logout():
    if EmptyForm().validate_on_submit():
        logout_user()
    return redirect(url_for("accounts.login"))


@web_accounts.route("/reset", methods=["GET", "POST"])
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        user = accounts.find_user(form.email.data)
        if _throttled(f"mail:{accounts.normalize_email(form.email.data)}"):
            abort(429)
        if user is not None:
            _mail_code(user, RESET)
        # The same answer whether or not the address has an account.
        flash("If that address has an account, a code is on its way.", "info")
        return redirect(url_for("accounts.reset", email=form.email.data))
    return render_template("accounts/reset_request.html", form=form)


@web_accounts.route("/reset/confirm", methods=["GET", "POST"])
def reset():
    form = ResetForm()
    if request.method == "GET":
        form.email.data = request.args.get("email", "")
    if form.validate_on_submit():
        if _throttled(f"code:{form.email.data.lower()}", f"ip:{request.remote_addr}"):
            abort(429)
        user = accounts.find_user(form.email.data)
        try:
            if user is None:
                raise AccountError("That code is not right.")
            accounts.reset_password(user, form.code.data, form.password.data, _secret())
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            if user.verified_at is None:  # the code came through the mailbox: it is theirs
                accounts.verify_email_now(user)
            flash("Your password is changed; log in with it.", "info")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset.html", form=form)


@web_accounts.get("/")
def home():
    return redirect(url_for("apps.index" if current_user.is_authenticated else "accounts.login"))
