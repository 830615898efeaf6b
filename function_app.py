"""sitelens' Azure Functions app: wiring only. Each function decodes its input, calls `shared/`, encodes."""

import json

import azure.functions as func

from shared import composition, health
from shared.webhooks import api as webhooks_api

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


def _json(status: int, doc: object) -> func.HttpResponse:
    body = json.dumps(doc) if doc is not None else None
    return func.HttpResponse(body, status_code=status, mimetype="application/json")


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_health(req: func.HttpRequest) -> func.HttpResponse:
    report = health.report()
    return func.HttpResponse(report.to_json(), status_code=report.http_status, mimetype="application/json")


# --- webhooks ----------------------------------------------------------------------------------
def _webhooks(action: str, req: func.HttpRequest) -> func.HttpResponse:
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
    doc = json.loads(msg.get_body())
    composition.webhooks().deliver(doc["event_id"], doc["subscription_id"])


@app.timer_trigger(arg_name="timer", schedule="%SITELENS_WEBHOOK_SWEEP_SCHEDULE%")
def reconcile_webhooks(timer: func.TimerRequest) -> None:
    composition.webhooks().sweep()
