"""The dashboard's forms (Flask-WTF: validation and a CSRF token in each)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    FieldList,
    FloatField,
    Form,
    FormField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from app.services.accounts.users import MAX_EMAIL_LENGTH
from app.services.apps import name_problem
from app.services.plans.starters import EMPTY, TEMPLATES
from app.services.webhooks.urls import MAX_URL_LENGTH as MAX_WEBHOOK_URL
from app.validation.property_rows import TYPES

CODE = Regexp(r"^\s*\d{6}\s*$", message="The code has six digits.")
NEW_PASSWORD = Length(min=10, max=200, message="Use a password of at least 10 characters.")


class SignUpForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=MAX_EMAIL_LENGTH)])
    password = PasswordField("Password", validators=[DataRequired(), NEW_PASSWORD])


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=MAX_EMAIL_LENGTH)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class VerifyForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=MAX_EMAIL_LENGTH)])
    code = StringField("Code from the e-mail", validators=[DataRequired(), CODE])


class ResetRequestForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=MAX_EMAIL_LENGTH)])


class ResetForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=MAX_EMAIL_LENGTH)])
    code = StringField("Code from the e-mail", validators=[DataRequired(), CODE])
    password = PasswordField("New password", validators=[DataRequired(), NEW_PASSWORD])


def app_name(form: FlaskForm, field: StringField) -> None:
    """The rules app names follow everywhere (app/services/apps.py name_problem)."""
    problem = name_problem(field.data or "")
    if problem is not None:
        raise ValidationError(problem)


class NewAppForm(FlaskForm):
    name = StringField("App name", validators=[app_name])
    template = RadioField(
        "Start with",
        choices=[SelectChoice(v, label) for v, label in TEMPLATES.items()],
        default=EMPTY,
    )
    plan_file = FileField("Plan file (JSON, when uploading one)")


class AlertSettingsForm(FlaskForm):
    """An app's violation alerts (app/services/alerts.py); an empty share turns them off."""

    threshold = FloatField(
        "Alert when more than this % of events fail (empty: no alerts)",
        validators=[Optional(), NumberRange(0, 100)],
    )
    window_minutes = IntegerField(
        "… of the last (minutes)", validators=[DataRequired(), NumberRange(1, 24 * 60)]
    )
    min_events = IntegerField(
        "… with at least (events)", validators=[DataRequired(), NumberRange(1, 10**7)]
    )
    cooldown_minutes = IntegerField(
        "Then no alert for (minutes)", validators=[DataRequired(), NumberRange(1, 7 * 24 * 60)]
    )

    @classmethod
    def of(cls, app) -> "AlertSettingsForm":
        """The form filled with an app's current settings."""
        share = app.alert_threshold
        return cls(
            threshold=None if share is None else round(share * 100, 2),
            window_minutes=app.alert_window_minutes,
            min_events=app.alert_min_events,
            cooldown_minutes=app.alert_cooldown_minutes,
        )


class PiiPolicyForm(FlaskForm):
    """What personal data found in an app's property values does (docs/pii.md)."""

    policy = SelectField(
        "Personal data in property values",
        choices=[
            SelectChoice("warn", "Warn: a pii warning, the status unchanged"),
            SelectChoice("fail", "Fail: the event is invalid (its run fails)"),
            SelectChoice("off", "Off: values are not looked at"),
        ],
    )


class WebhookForm(FlaskForm):
    """A new webhook of an app (app/services/webhooks): its kind and URL."""

    kind = SelectField(
        "Kind",
        choices=[
            SelectChoice("json", "JSON (signed)"),
            SelectChoice("slack", "Slack incoming webhook"),
        ],
        default="json",
    )
    url = StringField("URL", validators=[DataRequired(), Length(max=MAX_WEBHOOK_URL)])


class EmptyForm(FlaskForm):
    """A button that posts (logout, rotate key): only the CSRF token."""


class PropertyRowForm(Form):
    """One row of the event editor: the schema at one property path (no CSRF of its own)."""

    path = StringField("Property", validators=[Optional(), Length(max=500)])
    type = SelectField("Type", choices=TYPES)
    required = BooleanField("Required")
    nullable = BooleanField("May be null")
    enum = StringField("Allowed values", validators=[Length(max=2000)])
    pattern = StringField("Pattern", validators=[Length(max=500)])
    minimum = StringField("Min", validators=[Length(max=40)])
    maximum = StringField("Max", validators=[Length(max=40)])
    description = StringField("Description", validators=[Length(max=500)])
    pii = BooleanField("May hold personal data")
    remove = BooleanField("Remove")


class EventForm(FlaskForm):
    name = StringField("Event name", validators=[DataRequired(), Length(max=255)])
    rows = FieldList(FormField(PropertyRowForm), max_entries=500)
