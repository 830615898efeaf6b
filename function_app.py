"""sitelens' Azure Functions app: wiring only. Each function decodes its input, calls `shared/`, encodes."""

import json
from pathlib import Path

import azure.functions as func
from azurefunctions.extensions.bindings import blob  # type: ignore[import-untyped]

from shared import composition, health, problems
from shared.jobs.api import Reply
from shared.uploads import api as uploads_api
from shared.webhooks import api as webhooks_api

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


def _json(status: int, doc: object) -> func.HttpResponse:
    body = json.dumps(doc) if doc is not None else None
    return func.HttpResponse(body, status_code=status, mimetype=webhooks_api.media_type(status))


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_health(req: func.HttpRequest) -> func.HttpResponse:
    report = health.assess(composition.health_checks)  # anonymous: the status only
    return func.HttpResponse(json.dumps(report.summary()), status_code=report.http_status, mimetype="application/json")


@app.route(route="health/details", methods=["GET"])
def get_health_details(req: func.HttpRequest) -> func.HttpResponse:
    report = health.assess(composition.health_checks)
    return func.HttpResponse(json.dumps(report.details()), status_code=report.http_status, mimetype="application/json")


def _unavailable() -> func.HttpResponse | None:
    """A 503 problem document while the app's settings are refused, instead of a 500 from every function."""
    refused = composition.unavailable()
    if refused is None:
        return None
    return func.HttpResponse(json.dumps(refused[1]), status_code=refused[0], mimetype=problems.MEDIA_TYPE)


@app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_openapi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse((Path(__file__).parent / "openapi.json").read_bytes(), mimetype="application/json")


# --- the pipeline --------------------------------------------------------------------------------
@app.blob_trigger(arg_name="photo", path="photos/{name}", connection="AzureWebJobsStorage",
                  source=func.BlobSource.EVENT_GRID)  # fmt: skip
def on_photo_uploaded(photo: blob.BlobClient) -> None:
    # An SDK-type binding: the worker gets a client, never the content, so no blob size reaches its memory.
    # Only the name is used: validation reads the size from the blob's properties, then a bounded range.
    composition.ingestion().ingest(photo.blob_name)


@app.queue_trigger(arg_name="msg", queue_name="completions", connection="AzureWebJobsStorage")
def on_task_completed(msg: func.QueueMessage) -> None:
    composition.completion().handle(msg.get_body())


@app.timer_trigger(arg_name="timer", schedule="%SITELENS_RECONCILE_SCHEDULE%")
def reconcile(timer: func.TimerRequest) -> None:
    composition.reconciler().run()


# --- status API ----------------------------------------------------------------------------------
def _jobs(action: str, req: func.HttpRequest) -> func.HttpResponse:
    if (refused := _unavailable()) is not None:
        return refused
    reply: Reply = composition.jobs_api().handle(
        action, dict(req.route_params), dict(req.params), dict(req.headers), req.get_body()
    )
    body = json.dumps(reply.body) if reply.body is not None else None
    return func.HttpResponse(body, status_code=reply.status, headers=reply.headers, mimetype=reply.media_type)


@app.route(route="jobs/{id}", methods=["GET"])
def get_job(req: func.HttpRequest) -> func.HttpResponse:
    return _jobs("get", req)


@app.route(route="jobs", methods=["GET"])
def list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    return _jobs("list", req)


@app.route(route="jobs/{id}/retry", methods=["POST"])
def retry_job(req: func.HttpRequest) -> func.HttpResponse:
    return _jobs("retry", req)


@app.route(route="jobs/{id}/feedback", methods=["POST"])
def add_job_feedback(req: func.HttpRequest) -> func.HttpResponse:
    return _jobs("feedback", req)


# --- uploads -----------------------------------------------------------------------------------
@app.route(route="uploads", methods=["POST"])
def request_upload(req: func.HttpRequest) -> func.HttpResponse:
    if (refused := _unavailable()) is not None:
        return refused
    status, doc = uploads_api.handle(composition.uploads(), req.get_body())
    return func.HttpResponse(json.dumps(doc), status_code=status, mimetype=uploads_api.media_type(status))


# --- webhooks ----------------------------------------------------------------------------------
def _webhooks(action: str, req: func.HttpRequest) -> func.HttpResponse:
    if (refused := _unavailable()) is not None:
        return refused
    return _json(*webhooks_api.handle(composition.webhooks(), action, dict(req.route_params), req.get_body()))


@app.route(route="subscriptions", methods=["POST"])
def create_subscription(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("create", req)


@app.route(route="subscriptions", methods=["GET"])
def list_subscriptions(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("list", req)


@app.route(route="subscriptions/{id}", methods=["DELETE"])
def delete_subscription(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("delete", req)


@app.route(route="subscriptions/{id}/rotate", methods=["POST"])
def rotate_subscription_secret(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("rotate", req)


@app.route(route="subscriptions/{id}/failed", methods=["GET"])
def list_failed_deliveries(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("failed", req)


@app.route(route="subscriptions/{id}/deliveries/{event_id}/replay", methods=["POST"])
def replay_delivery(req: func.HttpRequest) -> func.HttpResponse:
    return _webhooks("replay", req)


@app.queue_trigger(arg_name="msg", queue_name="notifications", connection="AzureWebJobsStorage")
def on_notification(msg: func.QueueMessage) -> None:
    composition.notifications().handle(msg.get_body())


@app.timer_trigger(arg_name="timer", schedule="%SITELENS_WEBHOOK_SWEEP_SCHEDULE%")
def reconcile_webhooks(timer: func.TimerRequest) -> None:
    composition.webhooks().sweep()
