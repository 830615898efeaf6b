"""sitelens' Azure Functions app: wiring only. Each function decodes its input, calls `shared/`, encodes."""

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
from azurefunctions.extensions.bindings import blob  # type: ignore[import-untyped]

from batch_tasks import telemetry
from shared import composition, health, http_reply, pool_api, request_body, request_query
from shared.errors import SitelensError
from shared.http_reply import Reply
from shared.uploads import api as uploads_api
from shared.webhooks import api as webhooks_api

telemetry.setup("sitelens-app")  # files locally, Application Insights in Azure (docs/telemetry.md)
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
JSON = "application/json"
log = logging.getLogger("sitelens.app")
_ROUTES: list[tuple[str, str]] = []  # (route, method) of every HTTP function, for the 405 functions below
HttpFunction = Callable[[func.HttpRequest], func.HttpResponse]


def _route(route: str, method: str, *, json_body: bool = False, **options: Any) -> Callable[[HttpFunction], Any]:
    """An HTTP function on `route`; a GET one serves HEAD too (shared/http_reply.py). `json_body`: the function
    reads a JSON body, so a body the host dropped is answered 411 before it runs (shared/request_body.py)."""
    methods = http_reply.methods_served(method)
    _ROUTES.extend((route, m) for m in methods)

    def register(function: HttpFunction) -> Any:
        @functools.wraps(function)
        def answer(req: func.HttpRequest) -> func.HttpResponse:
            if json_body and request_body.lost_in_transit(req.get_body(), req.headers):
                return _render(http_reply.length_required())
            return function(req)

        return app.route(route=route, methods=methods, **options)(_headless_for_head(answer))

    return register


def _headless_for_head(function: HttpFunction) -> HttpFunction:
    """HEAD gets GET's status and headers without the body. Azure's host drops a HEAD answer's body itself;
    the app does not rely on any host doing so."""

    @functools.wraps(function)
    def answer(req: func.HttpRequest) -> func.HttpResponse:
        response = function(req)
        if req.method.upper() != "HEAD":
            return response
        return func.HttpResponse(b"", status_code=response.status_code, headers=dict(response.headers),
                                 mimetype=response.mimetype, charset=response.charset)  # fmt: skip

    return answer


def _render(reply: Reply) -> func.HttpResponse:
    """The one place a `Reply` from shared/ becomes an HTTP response."""
    return func.HttpResponse(reply.encoded(), status_code=reply.status, headers=reply.headers_to_send(),
                             mimetype=reply.media_type)  # fmt: skip


def _serve(answer: Callable[[], Reply]) -> func.HttpResponse:
    """The one error handler of the HTTP functions: a 503 problem document while the app's settings are
    refused, and a problem document for an error raised while building what answers (the tables a cold
    instance creates, with storage down or refusing), never the host's bare 500. The API modules answer
    their own errors as problem documents already. Anything else is a bug: in Azure the host would answer it
    with an empty 500, so it is logged with its trace here and answered 500 `internal_error`, its message
    kept out of the reply (it may name settings or storage the caller has no business seeing)."""
    try:
        refused = composition.unavailable()
        if refused is not None:
            return _render(Reply(*refused))
        return _render(answer())
    except SitelensError as exc:
        return _render(Reply.error(exc))
    except Exception:
        log.exception("an HTTP function failed unexpectedly")
        return _render(Reply.error(SitelensError("an unexpected error; the app's log has the trace")))


_recent_health = health.Recent(lambda: health.assess(composition.health_checks), max_age_s=5.0)


@_route("health", "GET", auth_level=func.AuthLevel.ANONYMOUS)
def get_health(req: func.HttpRequest) -> func.HttpResponse:
    report = _recent_health()  # anonymous: the status only, at most 5 s old
    return _render(Reply(report.http_status, report.summary(), media=JSON))


@_route("health/details", "GET")
def get_health_details(req: func.HttpRequest) -> func.HttpResponse:
    report = health.assess(composition.health_checks)
    return _render(Reply(report.http_status, report.details(), media=JSON))


@_route("openapi.json", "GET", auth_level=func.AuthLevel.ANONYMOUS)
def get_openapi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse((Path(__file__).parent / "openapi.json").read_bytes(), mimetype="application/json")


# --- the pipeline --------------------------------------------------------------------------------
@app.blob_trigger(arg_name="photo", path="photos/{name}", connection="AzureWebJobsStorage",
                  source=func.BlobSource.EVENT_GRID)  # fmt: skip
def on_photo_uploaded(photo: blob.BlobClient) -> None:
    # An SDK-type binding: the worker gets a client, never the content, so no blob size reaches its memory.
    # Only the name is used: validation reads the size from the blob's properties, then a bounded range.
    composition.ingestion().ingest(photo.blob_name)


# A photo whose blob trigger failed every try gets a second round, ten minutes apart (shared/jobs/poisoned_photos.py).
@app.queue_trigger(arg_name="msg", queue_name="webjobs-blobtrigger-poison", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="unresolved", queue_name="webjobs-blobtrigger-poison-poison",
                  connection="AzureWebJobsStorage")  # fmt: skip
def on_photo_poisoned(msg: func.QueueMessage, unresolved: func.Out[str]) -> None:
    if composition.poisoned_photos().handle(msg.get_body(), msg.dequeue_count or 0).for_an_operator:
        unresolved.set(msg.get_body().decode("utf-8"))


@app.queue_trigger(arg_name="msg", queue_name="completions", connection="AzureWebJobsStorage")
def on_task_completed(msg: func.QueueMessage) -> None:
    composition.completion().handle(msg.get_body())


@app.timer_trigger(arg_name="timer", schedule="%SITELENS_RECONCILE_SCHEDULE%")
def reconcile(timer: func.TimerRequest) -> None:
    composition.reconciler().run()


@app.timer_trigger(arg_name="timer", schedule="%SITELENS_RECORDS_EXPIRY_SCHEDULE%")
def expire_records(timer: func.TimerRequest) -> None:
    composition.record_expiry().run()


# --- status API ----------------------------------------------------------------------------------
def _jobs(action: str, req: func.HttpRequest) -> func.HttpResponse:
    return _serve(lambda: composition.jobs_api().handle(
        action, dict(req.route_params), request_query.query_of(req.url), dict(req.headers), req.get_body()
    ))  # fmt: skip


@_route("jobs/{id}", "GET")
def get_job(req: func.HttpRequest) -> func.HttpResponse:
    return _jobs("get", req)


@_route("jobs", "GET")
def list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    return _jobs("list", req)


@_route("jobs/{id}/retry", "POST")
def retry_job(req: func.HttpRequest) -> func.HttpResponse:
    return _jobs("retry", req)


@_route("jobs/{id}/feedback", "POST", json_body=True)
def add_job_feedback(req: func.HttpRequest) -> func.HttpResponse:
    return _jobs("feedback", req)


# --- dashboards: aggregates (shared/jobs/summary.py, shared/pool_api.py) --------------------------
@_route("sites/{site}/summary", "GET")
def get_site_summary(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(lambda: composition.summary_api().handle(req.route_params["site"]))


@_route("pool", "GET")
def get_pool(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(lambda: pool_api.handle(lambda: composition.pool_status().read()))


# --- uploads -----------------------------------------------------------------------------------
@_route("uploads", "POST", json_body=True)
def request_upload(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(lambda: uploads_api.handle(composition.uploads(), req.get_body()))


# --- webhooks ----------------------------------------------------------------------------------
def _webhooks(action: str, req: func.HttpRequest) -> func.HttpResponse:
    return _serve(
        lambda: webhooks_api.handle(
            composition.webhooks(), action, dict(req.route_params), req.get_body(), request_query.query_of(req.url)
        )
    )


@_route("subscriptions", "POST", json_body=True)
def create_subscription(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("create", req)


@_route("subscriptions", "GET")
def list_subscriptions(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("list", req)


@_route("subscriptions/{id}", "DELETE")
def delete_subscription(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("delete", req)


@_route("subscriptions/{id}/rotate", "POST")
def rotate_subscription_secret(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("rotate", req)


@_route("subscriptions/{id}/failed", "GET")
def list_failed_deliveries(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("failed", req)


@_route("subscriptions/{id}/deliveries", "GET")
def list_recent_deliveries(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("recent", req)


@_route("subscriptions/{id}/deliveries/{event_id}/replay", "POST")
def replay_delivery(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("replay", req)


@app.queue_trigger(arg_name="msg", queue_name="notifications", connection="AzureWebJobsStorage")
def on_notification(msg: func.QueueMessage) -> None:
    composition.notifications().handle(msg.get_body())


@app.timer_trigger(arg_name="timer", schedule="%SITELENS_WEBHOOK_SWEEP_SCHEDULE%")
def reconcile_webhooks(timer: func.TimerRequest) -> None:
    composition.webhooks().sweep()


# --- a wrong method on a known route: 405 with Allow (shared/http_reply.py says why the app answers it) ---
def _not_allowed(route: str, allowed: frozenset[str]) -> HttpFunction:
    def method_not_allowed(req: func.HttpRequest) -> func.HttpResponse:
        return _render(http_reply.method_not_allowed(route, allowed))

    return _headless_for_head(method_not_allowed)


for _template, _allowed in http_reply.allowed_methods(_ROUTES).items():
    app.function_name(name=http_reply.not_allowed_function_name(_template))(
        app.route(route=_template, methods=http_reply.other_methods(_allowed), auth_level=func.AuthLevel.ANONYMOUS)(
            _not_allowed(_template, _allowed)
        )
    )
