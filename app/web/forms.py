"""The dashboard's forms (Flask-WTF: validation and a CSRF token in each)."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length, Regexp

CODE = Regexp(r"^\s*\d{6}\s*$", message="The code has six digits.")
NEW_PASSWORD = Length(min=10, max=200, message="Use a password of at least 10 characters.")


class SignUpForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), NEW_PASSWORD])


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class VerifyForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    code = StringField("Code from the e-mail", validators=[DataRequired(), CODE])


class ResetRequestForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=254)])


class ResetForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    code = StringField("Code from the e-mail", validators=[DataRequired(), CODE])
    password = PasswordField("New password", validators=[DataRequired(), NEW_PASSWORD])


class NewAppForm(FlaskForm):
    name = StringField("App name", validators=[DataRequired(), Length(max=255)])


class EmptyForm(FlaskForm):
    """A button that posts (logout, rotate key): only the CSRF token."""
