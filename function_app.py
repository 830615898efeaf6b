"""sitelens' Azure Functions app: wiring only. Each function decodes its input, calls `shared/`, encodes."""

import azure.functions as func

from shared import health

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_health(req: func.HttpRequest) -> func.HttpResponse:
    report = health.report()
    return func.HttpResponse(report.to_json(), status_code=report.http_status, mimetype="application/json")
