"""marshmallow schemas of what the JSON API answers, for its OpenAPI document (app/api/openapi.py).

The routes build their answers as dicts; these schemas describe them (required keys, types,
enums) so the document, and Schemathesis's checks against it, hold the routes to one shape.
Objects are closed (`additionalProperties: false`, marshmallow's default `unknown = RAISE`),
except those with `unknown = "include"`: a key an answer gains must be added here too, or
tests/api/test_schemathesis.py fails on it.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.native_event import NativeEventSchema
from app.schemas.sdk_message import MESSAGE_TYPES, SdkBatchSchema, SdkMessageSchema
from app.task_states import DEAD_LETTER_STATES, JOB_STATES, LISTED_TASK_STATES, TASK_STATES
from app.validation.plan_lint import CONVENTIONS
from app.validation.verdict import ANSWERS, FAILING, STATUSES

NAMING_CONVENTIONS = tuple(CONVENTIONS)
# The languages of app/codegen (LANGUAGES; tests/api/test_plan_code_api.py checks the copy:
# schemas import nothing above them) and the answer formats of app/api/plan_code.py.
CODE_LANGUAGES = ("typescript", "python", "kotlin", "swift")
CODE_FORMATS = ("json", "zip")


# Times are ISO 8601 text (UTC, `Z` or `+00:00`) as the routes write them.
def Time(metadata: dict | None = None, **kwargs) -> fields.Field:  # noqa: N802 (a field)
    return fields.String(metadata={"format": "date-time", **(metadata or {})}, **kwargs)


def _nullable_time(**kwargs) -> fields.Field:
    return Time(allow_none=True, **kwargs)


class FieldErrorSchema(Schema):
    """One problem of a request: the field (a dotted path) and what is wrong with it."""

    field = fields.String(required=True)
    message = fields.String(required=True)


class ErrorSchema(Schema):
    """Every error answer: a machine `code`, a human `message`, sometimes the field `errors`."""

    code = fields.String(required=True, metadata={"example": "invalid_parameter"})
    message = fields.String(required=True)
    errors = fields.List(fields.Raw(), metadata={"description": "Field problems, when known."})


# --- ingestion ------------------------------------------------------------------------------


class NativeEventDocSchema(NativeEventSchema):
    """A native event: `eventName` plus its properties as top-level fields."""

    class Meta:
        # Every other top-level field is a property checked by the tracking plan.
        unknown = "include"


class NativeBatchSchema(Schema):
    """A native batch (a bare JSON array of events is accepted too)."""

    events = fields.List(fields.Nested(NativeEventDocSchema), required=True)


class SdkMessageDocSchema(SdkMessageSchema):
    """A Segment-format message; `userId`/`anonymousId`, `integrations` and the rest are kept."""

    class Meta:
        unknown = "include"

    writeKey = fields.String(metadata={"description": "The write key, unless sent by Basic auth."})


class SdkSingleSchema(SdkMessageDocSchema):
    """The body of `/v1/<type>`: `type` comes from the path when left out."""

    type = fields.String(validate=validate.OneOf(MESSAGE_TYPES))


class SdkBatchDocSchema(SdkBatchSchema):
    """The body of `/v1/batch`: its messages each say their own `type`."""

    class Meta:
        unknown = "include"

    batch = fields.List(fields.Nested(SdkMessageDocSchema), required=True)
    writeKey = fields.String(metadata={"description": "The write key, unless sent by Basic auth."})


class VerdictSchema(Schema):
    """One event's answer: its verdict at once, and the task id to follow its storage."""

    event_name = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(ANSWERS))
    task_id = fields.String(metadata={"description": "GET /api/tasks/{task_id} follows it."})
    payload_hash = fields.String()
    errors = fields.List(fields.Raw(), metadata={"description": "The plan's violations."})
    message = fields.String()
    blocked = fields.Boolean()
    code = fields.String(metadata={"description": "Why a batch slot was `rejected`."})


class BatchAnswerSchema(Schema):
    """A batch's answer: one verdict per event, in order, and the counts of each."""

    results = fields.List(fields.Nested(VerdictSchema), required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class SdkAnswerSchema(VerdictSchema):
    """An SDK request's answer: 200 `success` whatever the verdicts (SDKs retry on any other)."""

    success = fields.Boolean(required=True)
    status = fields.String(validate=validate.OneOf(ANSWERS))


class SdkBatchAnswerSchema(BatchAnswerSchema):
    """An SDK batch's answer."""

    success = fields.Boolean(required=True)


# --- the read API ---------------------------------------------------------------------------


class LibrarySchema(Schema):
    name = fields.String(allow_none=True)
    version = fields.String(allow_none=True)


class EventSchema(Schema):
    """A stored event."""

    id = fields.Integer(required=True)
    type = fields.String(allow_none=True)
    event_name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    errors = fields.List(fields.Raw(), allow_none=True)
    plan_version = fields.Integer(allow_none=True)
    payload = fields.Raw(required=True)
    payload_hash = fields.String(required=True)
    task_id = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    received_at = _nullable_time(required=True)
    sent_at = _nullable_time()
    timestamp = _nullable_time()
    app_version = fields.String(allow_none=True)
    os_name = fields.String(allow_none=True)
    device_id = fields.String(allow_none=True)
    library = fields.Nested(LibrarySchema)
    test_run = fields.String(allow_none=True)


class EventPageSchema(Schema):
    events = fields.List(fields.Nested(EventSchema), required=True)
    next_cursor = fields.String(
        required=True, allow_none=True, metadata={"description": "Pass as ?cursor= for more."}
    )


class TaskSchema(Schema):
    """Where a task (one accepted event) is: queued, stored, failed or discarded."""

    task_id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(TASK_STATES))
    event_id = fields.Integer()
    status = fields.String(validate=validate.OneOf(STATUSES))
    event_name = fields.String(allow_none=True)
    dead_letter_id = fields.Integer()
    received_at = _nullable_time()
    stored_at = _nullable_time()
    failed_at = _nullable_time()
    latency_ms = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)


class TaskPageSchema(Schema):
    tasks = fields.List(fields.Nested(TaskSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class TaskStatsSchema(Schema):
    """Counts, rates and latency percentiles of the tasks accepted in a window."""

    since = Time(required=True)
    until = Time(required=True)
    stored = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    stored_per_minute = fields.Float(required=True)
    failed_per_minute = fields.Float(required=True)
    latency_ms = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))


class DeadLetterSchema(Schema):
    """A message the worker gave up on, kept to be replayed or discarded."""

    id = fields.Integer(required=True)
    task_id = fields.String(allow_none=True)
    task_name = fields.String(required=True)
    app_id = fields.Integer(allow_none=True)
    error = fields.String(required=True)
    message = fields.Raw()
    created_at = Time(required=True)
    replayed_at = _nullable_time()
    discarded_at = _nullable_time()
    attempts = fields.Integer()
    state = fields.String(validate=validate.OneOf(DEAD_LETTER_STATES))
    event_name = fields.String(allow_none=True)
    received_at = _nullable_time()


class DeadLettersSchema(Schema):
    dead_letters = fields.List(fields.Nested(DeadLetterSchema), required=True)


class ReplaySchema(Schema):
    """The body of a replay: the ids to queue again (all pending ones without a body)."""

    ids = fields.List(fields.Integer())


class ReplayedSchema(Schema):
    replayed = fields.Integer(required=True)
    ids = fields.List(fields.Integer(), required=True)


class DiscardedSchema(Schema):
    discarded = fields.Integer(required=True)
    task_id = fields.String(allow_none=True)


TEST_RUN_STATUSES = ("PASSED", "FAILED")


class TestRunSummarySchema(Schema):
    """A test run's verdict and its events counted by status."""

    test_run = fields.String(required=True)
    passed = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(TEST_RUN_STATUSES))
    total = fields.Integer(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    first_at = _nullable_time(
        required=True, metadata={"description": "When its first event came (null: none yet)."}
    )
    last_at = _nullable_time(
        required=True, metadata={"description": "When its newest event came (null: none yet)."}
    )
    closed_at = _nullable_time(
        required=True,
        metadata={"description": "When it was closed (null: open); see docs/expectations.md."},
    )


class TestRunListedSchema(TestRunSummarySchema):
    """A run of the list: its verdict, counts and whether its expectations are met."""

    expectations_met = fields.Boolean(
        required=True, allow_none=True, metadata={"description": "null: it has no expectations."}
    )


class TestRunPageSchema(Schema):
    """The app's test runs, the most recently active first."""

    test_runs = fields.List(fields.Nested(TestRunListedSchema), required=True)
    next_cursor = fields.String(
        required=True, allow_none=True, metadata={"description": "Pass as ?cursor= for more."}
    )


class ViolationGroupSchema(Schema):
    """One broken rule (event, rule, path, expected value) of a run, however often broken."""

    event_name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(FAILING))
    rule = fields.String(required=True)
    path = fields.String(required=True)
    message = fields.String(required=True, metadata={"description": "The first one's message."})
    values = fields.List(
        fields.Raw(), required=True, metadata={"description": "A few values that broke it."}
    )
    count = fields.Integer(required=True)
    examples = fields.List(fields.Nested(EventSchema), required=True)


EXPECTATION_KINDS = ("present", "absent", "count", "properties", "order", "invalid", "unplanned")


class ExpectationResultSchema(Schema):
    """One expectation of a run, met or not, with the events that break it."""

    id = fields.String(required=True, metadata={"description": "Stable, e.g. `present:Signup`."})
    kind = fields.String(required=True, validate=validate.OneOf(EXPECTATION_KINDS))
    title = fields.String(required=True)
    met = fields.Boolean(required=True)
    message = fields.String(required=True)
    events = fields.List(
        fields.Nested(EventSchema), required=True, metadata={"description": "At most 20."}
    )


class RunExpectationsSchema(Schema):
    """A run's expectations checked; `met` null when it has none."""

    met = fields.Boolean(required=True, allow_none=True)
    results = fields.List(fields.Nested(ExpectationResultSchema), required=True)
    partial = fields.Boolean(
        required=True,
        metadata={"description": "Properties and order checked on its first 20,000 events only."},
    )


class LateEventsSchema(Schema):
    """Events of a closed run received after it was closed (they change nothing)."""

    count = fields.Integer(required=True)
    events = fields.List(fields.Nested(EventSchema), required=True)


class RunSettlementSchema(Schema):
    """Whether every event the run had accepted is stored or dead-lettered
    (docs/test-run-wait.md)."""

    accepted = fields.Integer(
        required=True, metadata={"description": "Admitted for storage (not duplicate, blocked)."}
    )
    stored = fields.Integer(required=True)
    dead_lettered = fields.Integer(
        required=True, metadata={"description": "Dead letters of the run not queued again."}
    )
    blocked = fields.Integer(
        required=True, metadata={"description": "Answered blocked, never stored; they fail it."}
    )
    pending = fields.Integer(required=True)
    settled = fields.Boolean(required=True, metadata={"description": "Nothing is pending."})


class RunPiiSchema(Schema):
    """Personal data found in the run's property values (docs/pii.md)."""

    findings = fields.Integer(required=True, metadata={"description": "`pii` violations."})
    events = fields.Integer(required=True, metadata={"description": "Events with one or more."})


class TestRunReportSchema(TestRunSummarySchema):
    """Whether a test run passed (its expectations met; without any, no invalid, unplanned or
    blocked events), with its failures and its settlement."""

    app_id = fields.Integer(required=True)
    settlement = fields.Nested(RunSettlementSchema, required=True)
    expectations = fields.Nested(RunExpectationsSchema, required=True)
    late = fields.Nested(
        LateEventsSchema,
        required=True,
        allow_none=True,
        metadata={"description": "null while the run is open."},
    )
    violations = fields.List(
        fields.Nested(ViolationGroupSchema),
        required=True,
        metadata={"description": "Its violations grouped by broken rule, most frequent first."},
    )
    violations_partial = fields.Boolean(
        required=True, metadata={"description": "Too many violating events: groups of some only."}
    )
    pii = fields.Nested(
        RunPiiSchema,
        required=True,
        metadata={"description": "Warnings unless the app's PII policy made the events invalid."},
    )
    failures = fields.List(fields.Nested(EventSchema), required=True)


class RegressionBasisSchema(Schema):
    """Which counts a regression report compares (events judged by the same plan version)."""

    kind = fields.String(
        required=True, validate=validate.OneOf(("same_plan_version", "different_plan_versions"))
    )
    plan_version = fields.Integer(required=True, allow_none=True)
    comparable = fields.Boolean(required=True)
    text = fields.String(required=True)


class RegressionSideSchema(Schema):
    count = fields.Integer(required=True, metadata={"description": "Violations of the rule."})
    events = fields.Integer(required=True, metadata={"description": "Events of that name."})
    rate = fields.Float(required=True, allow_none=True)


class RegressionChangeSchema(Schema):
    """A rule whose violations changed, with both versions' counts and rates."""

    event_name = fields.String(required=True)
    rule = fields.String(required=True)
    path = fields.String(required=True)
    base = fields.Nested(RegressionSideSchema, required=True)
    head = fields.Nested(RegressionSideSchema, required=True)


class RegressionReportSchema(Schema):
    """Violations new, gone, more or less frequent from app version `base` to `head`."""

    app_id = fields.Integer(required=True)
    base = fields.String(required=True)
    head = fields.String(required=True)
    basis = fields.Nested(RegressionBasisSchema, required=True)
    plan_versions = fields.Dict(
        keys=fields.String(validate=validate.OneOf(("base", "head"))),
        values=fields.List(fields.Integer()),
        required=True,
        metadata={"description": "The plan versions that judged each build's events (0: none)."},
    )
    events = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    new = fields.List(fields.Nested(RegressionChangeSchema), required=True)
    gone = fields.List(fields.Nested(RegressionChangeSchema), required=True)
    more_frequent = fields.List(fields.Nested(RegressionChangeSchema), required=True)
    regressed = fields.Boolean(
        required=True,
        allow_none=True,
        metadata={"description": "Null when no plan version judged events of both builds."},
    )


class OverviewBucketSchema(Schema):
    """A minute, hour or day of the window: its events counted by status."""

    start = Time(required=True)
    valid = fields.Integer(required=True)
    invalid = fields.Integer(required=True)
    unplanned = fields.Integer(required=True)
    total = fields.Integer(required=True)


class PlanPublishSchema(Schema):
    version = fields.Integer(required=True)
    published_at = _nullable_time(required=True)


class OverviewSchema(Schema):
    """The overview chart's numbers: events by status per bucket, and the plan publishes."""

    window = fields.String(required=True)
    resolution = fields.String(required=True)
    buckets = fields.List(fields.Nested(OverviewBucketSchema), required=True)
    plan_publishes = fields.List(fields.Nested(PlanPublishSchema), required=True)
    statistics_as_of = _nullable_time(
        required=True, metadata={"description": "Events after it are not counted yet."}
    )


# --- plans and jobs -------------------------------------------------------------------------


class PlanSchema(Schema):
    """The published plan (`version` null and an empty plan before any is published)."""

    app_id = fields.Integer(required=True)
    version = fields.Integer(required=True, allow_none=True)
    plan = fields.Dict(required=True)


class PlanVersionSchema(Schema):
    version = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("draft", "published")))
    current = fields.Boolean(required=True)
    created_at = _nullable_time(required=True)
    published_at = _nullable_time(required=True)


class PlanVersionBodySchema(PlanVersionSchema):
    plan = fields.Dict(required=True)


class PlanVersionsSchema(Schema):
    versions = fields.List(fields.Nested(PlanVersionSchema), required=True)


class PlanDocumentSchema(Schema):
    """A tracking plan: `{"events": {name: JSON Schema}, ...}` (see docs/plans.md)."""

    class Meta:
        unknown = "include"

    events = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)


class ExpectationsDocumentSchema(Schema):
    """A run's expectations (see docs/expectations.md)."""

    class Meta:
        unknown = "include"

    expect = fields.List(fields.Raw())
    forbid = fields.List(fields.String())
    order = fields.List(fields.String())
    only_expected = fields.Boolean()
    allow_invalid = fields.Boolean()
    allow_unplanned = fields.Boolean()


class SavedExpectationsSchema(Schema):
    """The run and its expectations as stored (defaults filled in)."""

    test_run = fields.String(required=True)
    expectations = fields.Dict(required=True)


class RunNameQuerySchema(Schema):
    name = fields.String(
        required=True, metadata={"description": "The test run's name, percent-encoded."}
    )


class SavedVersionSchema(Schema):
    version = fields.Integer(required=True, allow_none=True)
    status = fields.String(required=True, allow_none=True)


class InferredDraftSchema(SavedVersionSchema):
    """The draft saved (`version` and `status` null when nothing was added)."""

    added = fields.List(fields.String(), required=True)
    left_out = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Observed names that do not look like event names."},
    )


MAX_CHOSEN = 1000  # event names one inference request may choose (app/api/plans.py)
MAX_NAME_LENGTH = 255


class InferChoiceSchema(Schema):
    """The events to add (send no body to add every plausible one)."""

    events = fields.List(
        fields.String(validate=validate.Length(1, MAX_NAME_LENGTH)),
        required=True,
        validate=validate.Length(max=MAX_CHOSEN),
    )


class ObservedEventSchema(Schema):
    """An unplanned event name among the events read."""

    name = fields.String(required=True)
    count = fields.Integer(required=True)
    last_seen = Time(required=True)
    plausible = fields.Boolean(
        required=True, metadata={"description": "Whether the name looks like an event name."}
    )
    samples = fields.List(
        fields.Raw(), required=True, metadata={"description": "The newest few property sets."}
    )


class ObservedEventsSchema(Schema):
    """The unplanned track and screen events among the newest `sample` events."""

    sample = fields.Integer(required=True)
    read = fields.Integer(required=True, metadata={"description": "Events actually read."})
    events = fields.List(fields.Nested(ObservedEventSchema), required=True)


class AppIdentitySchema(Schema):
    """The app the credentials reach."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    plan_version = fields.Integer(required=True, allow_none=True)


class LintFindingSchema(Schema):
    """One lint finding; `path` is a JSON pointer into the document sent."""

    severity = fields.String(required=True, validate=validate.OneOf(("error", "warning")))
    rule = fields.String(required=True, metadata={"example": "event-name-case"})
    path = fields.String(required=True)
    event = fields.String(required=True, allow_none=True)
    property = fields.String(required=True, allow_none=True)
    message = fields.String(required=True)


class LintConventionsSchema(Schema):
    event_names = fields.String(required=True, validate=validate.OneOf(NAMING_CONVENTIONS))
    property_names = fields.String(required=True, validate=validate.OneOf(NAMING_CONVENTIONS))


class LintReportSchema(Schema):
    """The lint findings of a plan document (docs/plan-checks.md)."""

    findings = fields.List(fields.Nested(LintFindingSchema), required=True)
    errors = fields.Integer(required=True)
    warnings = fields.Integer(required=True)
    conventions = fields.Nested(LintConventionsSchema, required=True)


class PlanChangeSchema(Schema):
    """One change; `path` is a JSON pointer into the document sent (the old one if removed)."""

    kind = fields.String(required=True, validate=validate.OneOf(("breaking", "additive")))
    rule = fields.String(required=True, metadata={"example": "event-removed"})
    path = fields.String(required=True)
    event = fields.String(required=True, allow_none=True)
    property = fields.String(required=True, allow_none=True)
    message = fields.String(required=True)
    before = fields.Raw(required=True, allow_none=True)
    after = fields.Raw(required=True, allow_none=True)


class PlanDiffSchema(Schema):
    """The changes from a saved version to the document sent (docs/plan-checks.md)."""

    against_version = fields.Integer(required=True, allow_none=True)
    changes = fields.List(fields.Nested(PlanChangeSchema), required=True)
    breaking = fields.Integer(required=True)
    additive = fields.Integer(required=True)


class CodeFileSchema(Schema):
    """One generated source file: its path inside the output folder and its text."""

    path = fields.String(required=True, metadata={"example": "tracking_plan.ts"})
    content = fields.String(required=True)


class PlanCodeSchema(Schema):
    """Typed tracking code generated from a plan (docs/codegen.md); `plan_version` null for a
    draft sent in the body."""

    language = fields.String(required=True, validate=validate.OneOf(CODE_LANGUAGES))
    plan_version = fields.Integer(required=True, allow_none=True)
    files = fields.List(fields.Nested(CodeFileSchema), required=True)


class RevalidateSchema(Schema):
    """Start a re-validation of stored events against a plan version or a given plan."""

    kind = fields.String(required=True, validate=validate.OneOf(("revalidate",)))
    plan_version = fields.Integer()
    plan = fields.Dict()
    since = Time()
    until = Time()


class UploadSchema(Schema):
    """An NDJSON file (or its gzip) to import."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
    kind = fields.String(validate=validate.OneOf(("import",)))


class JobSchema(Schema):
    """A background job and its progress."""

    id = fields.Integer(required=True)
    app_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    state = fields.String(required=True)
    params = fields.Raw(allow_none=True)
    done = fields.Integer(required=True)
    total = fields.Integer(allow_none=True)
    percent = fields.Float(allow_none=True)
    rate_per_second = fields.Float(allow_none=True)
    eta_seconds = fields.Float(allow_none=True)
    position = fields.Raw(allow_none=True)
    attempts = fields.Integer()
    cancel_requested = fields.Boolean()
    error = fields.String(allow_none=True)
    created_at = _nullable_time()
    started_at = _nullable_time()
    heartbeat_at = _nullable_time()
    finished_at = _nullable_time()
    result = fields.Raw(allow_none=True)


class JobsSchema(Schema):
    jobs = fields.List(fields.Nested(JobSchema), required=True)


class SdkSettingsSchema(Schema):
    """The settings an SDK loads before it sends: they point its events back here."""

    integrations = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(),
        required=True,
        metadata={"description": '`"Segment.io"`: `apiKey`, `apiHost` (this service\'s /v1).'},
    )
    plan = fields.Dict(required=True)
    edgeFunction = fields.Dict(required=True)
    analyticsNextEnabled = fields.Boolean(required=True)
    middlewareSettings = fields.Dict(required=True)
    enabledMiddleware = fields.Dict(required=True)
    metrics = fields.Dict(required=True)
    legacyVideoPluginsEnabled = fields.Boolean(required=True)
    remotePlugins = fields.List(fields.Raw(), required=True)
    consentSettings = fields.Dict(required=True)


# --- health ---------------------------------------------------------------------------------


class HealthSchema(Schema):
    status = fields.String(required=True)


class ReadySchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("ready", "unavailable")))
    checks = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)
    failing = fields.List(fields.String())


# --- query parameters (each schema's fields become one operation's `in: query` parameters) ---

# The values the routes accept (app/services/jobs/runner.py; tests/api/test_openapi.py checks
# these copies still match: schemas import no services).
JOB_KINDS = ("revalidate", "import")
MAX_LIMIT = 500


def _limit(default: int) -> fields.Field:
    return fields.Integer(
        validate=validate.Range(1, MAX_LIMIT),
        metadata={"description": f"Page size (default {default})."},
    )


def _cursor() -> fields.Field:
    return fields.String(metadata={"description": "`next_cursor` of the previous page."})


class EventQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    event_name = fields.String()
    test_run = fields.String()
    app_version = fields.String()
    device_id = fields.String()
    since = Time(metadata={"description": "Only events received at or after this time."})
    limit = _limit(50)
    cursor = _cursor()


class RunWaitQuerySchema(Schema):
    wait = fields.Integer(
        validate=validate.Range(0, 30),
        metadata={"description": "Seconds to wait for the run to settle (long-poll)."},
    )


class TaskWaitQuerySchema(Schema):
    wait = fields.Integer(
        validate=validate.Range(0, 30),
        metadata={"description": "Seconds to wait for a queued task to settle (long-poll)."},
    )
    app_id = fields.Integer(
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "With a session owning several apps: which app's task."},
    )


class DeadLetterQuerySchema(Schema):
    limit = _limit(100)
    all = fields.String(
        validate=validate.OneOf(("1", "true")),
        metadata={"description": "Include replayed dead letters."},
    )


class WindowQuerySchema(Schema):
    since = Time()
    until = Time()


class TaskListQuerySchema(WindowQuerySchema):
    state = fields.String(validate=validate.OneOf(LISTED_TASK_STATES))
    limit = _limit(50)
    cursor = _cursor()


class RegressionQuerySchema(Schema):
    base = fields.String(required=True, metadata={"description": "The earlier app version."})
    head = fields.String(required=True, metadata={"description": "The later app version."})


class JobQuerySchema(Schema):
    state = fields.String(validate=validate.OneOf(JOB_STATES))
    kind = fields.String(validate=validate.OneOf(JOB_KINDS))
    limit = _limit(50)


class JobWaitQuerySchema(Schema):
    wait = fields.Integer(
        validate=validate.Range(0, 30),
        metadata={"description": "Seconds to wait for the job to finish (long-poll)."},
    )


class JobStartQuerySchema(Schema):
    kind = fields.String(
        validate=validate.OneOf(("import",)), metadata={"description": "For a raw upload."}
    )
    filename = fields.String(metadata={"description": "The raw upload's file name."})


class PublishQuerySchema(Schema):
    publish = fields.String(
        validate=validate.OneOf(("1", "true", "0", "false")),
        metadata={"description": "Publish the saved version at once."},
    )


class PlanCodeQuerySchema(Schema):
    language = fields.String(required=True, validate=validate.OneOf(CODE_LANGUAGES))
    format = fields.String(
        validate=validate.OneOf(CODE_FORMATS),
        metadata={"description": "`json` (default) or `zip` (the files in a zip archive)."},
    )


class PlanCodeVersionQuerySchema(PlanCodeQuerySchema):
    version = fields.Integer(
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "A saved plan version (default: the published one)."},
    )


class TestRunListQuerySchema(Schema):
    limit = fields.Integer(
        validate=validate.Range(1, 100), metadata={"description": "Page size (default 20)."}
    )
    cursor = _cursor()


# The overview's windows and the resolutions each allows (app/services/statistics/overview.py;
# the first is the default; tests/api/test_openapi.py checks the copy).
OVERVIEW_RESOLUTIONS = {
    "1h": ("minute", "hour"),
    "3h": ("minute", "hour"),
    "6h": ("minute", "hour"),
    "24h": ("hour",),
    "7d": ("hour",),
    "30d": ("day",),
}


class OverviewQuerySchema(Schema):
    window = fields.String(
        validate=validate.OneOf(tuple(OVERVIEW_RESOLUTIONS)),
        metadata={"description": "How far back (default 24h)."},
    )
    resolution = fields.String(
        validate=validate.OneOf(("minute", "hour", "day")),
        metadata={
            "description": "Bucket size: minute or hour for 6h at most, hour for 24h and 7d, "
            "day for 30d (default the finest allowed); another is a 400."
        },
    )


class InferQuerySchema(Schema):
    sample = fields.Integer(
        validate=validate.Range(1, 10_000),
        metadata={"description": "How many recent events to infer from (default 1000)."},
    )


class AppQuerySchema(Schema):
    app_id = fields.Integer(
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "With a dashboard session: which of the user's apps."},
    )


class LintQuerySchema(Schema):
    event_names = fields.String(
        validate=validate.OneOf(NAMING_CONVENTIONS),
        metadata={"description": "The event naming convention (overrides the plan's lint)."},
    )
    property_names = fields.String(
        validate=validate.OneOf(NAMING_CONVENTIONS),
        metadata={"description": "The property naming convention (overrides the plan's lint)."},
    )


class DiffQuerySchema(Schema):
    against = fields.Integer(
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "The saved version to compare with (default: the published one)."},
    )
