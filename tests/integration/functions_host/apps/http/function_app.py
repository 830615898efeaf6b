"""Test app: HTTP routes at each auth level."""

import json

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="jobs/{job_id}", methods=["GET"])
def get_job(req: func.HttpRequest) -> func.HttpResponse:
    body = {"job_id": req.route_params["job_id"], "verbose": req.params.get("verbose")}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="jobs/{job_id}/retry", methods=["POST"])
def retry_job(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"retried": req.route_params["job_id"], "body": req.get_json()}), status_code=202
    )


@app.route(route="public/ping", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def ping(req: func.HttpRequest) -> str:
    return "pong"


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> str:
    return "admin"


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("unhandled")


@app.route(route="echo", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    headers = {name: value for name, value in req.headers.items() if name.lower().startswith("x-echo")}
    return func.HttpResponse(json.dumps({"params": dict(req.params), "headers": headers}), mimetype="application/json")


@app.route(route="echo-body", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def echo_body(req: func.HttpRequest) -> func.HttpResponse:
    framing = {name: req.headers.get(name) for name in ("content-length", "transfer-encoding", "content-encoding")}
    return func.HttpResponse(json.dumps({"body": req.get_body().hex(), **framing}), mimetype="application/json")
