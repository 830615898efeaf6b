"""One SDK-exception mapping: every module in shared/ that imports an Azure SDK calls it through
`shared.adapters.azure_errors` (`call` / `translated`), catches no SDK exception itself and keeps no wrapper
of its own; and the mapping itself sorts errors into the tree as docs/reason-codes.md says."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    IncompleteReadError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.identity import CredentialUnavailableError
from azure.storage.blob import StorageErrorCode

from batch_tasks.node.storage import translate as node_translate
from shared.adapters import azure_errors
from shared.adapters.azure_errors import call, service_code, service_status, translate, translated
from shared.adapters.azure_job_store import TableJobStore
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.errors import Conflict, NotFound, PermanentError, TransientError

REPO = Path(__file__).resolve().parents[3]
MAPPING = REPO / "shared" / "adapters" / "azure_errors.py"


def _sdk_modules() -> list[Path]:
    paths = sorted((REPO / "shared").rglob("*.py"))
    return [p for p in paths if p != MAPPING and _imports_azure(ast.parse(p.read_text()))]


def _imports_azure(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "azure":
            return True
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "azure" for a in node.names):
            return True
    return False


def _azure_names(tree: ast.Module) -> dict[str, str]:
    """Local name → the azure module it came from (`from azure.core.exceptions import X`, `import azure…`)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "azure":
            names.update({a.asname or a.name: str(node.module) for a in node.names})
        elif isinstance(node, ast.Import):
            names.update({(a.asname or a.name).split(".")[0]: a.name for a in node.names if a.name.startswith("azure")})
    return names


def _sdk_catches(tree: ast.Module) -> list[str]:
    """`except <SDK exception>` and `contextlib.suppress(<SDK exception>)`, by line."""
    azure = _azure_names(tree)
    caught: list[tuple[int, ast.expr]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            caught += [(node.lineno, t) for t in (node.type.elts if isinstance(node.type, ast.Tuple) else [node.type])]
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("suppress"):
            caught += [(node.lineno, arg) for arg in node.args]
    return [f"line {line}: {ast.unparse(t)}" for line, t in caught if ast.unparse(t).split(".")[0] in azure]


def test_the_scan_finds_the_adapters():
    names = {p.name for p in _sdk_modules()}
    expected = {"azure_job_store.py", "azure_photo_store.py", "azure_batch_submitter.py", "azure_webhook_store.py",
                "azure_notification_queue.py", "azure_blob_sas.py", "azure_table_reservations.py"}  # fmt: skip
    assert expected <= names


def test_the_scan_sees_a_catch_of_an_sdk_exception():
    tree = ast.parse(
        "import contextlib\nfrom azure.core.exceptions import AzureError, ResourceExistsError as Exists\n"
        "try:\n    pass\nexcept (ValueError, AzureError):\n    pass\nwith contextlib.suppress(Exists):\n    pass\n"
    )
    assert _sdk_catches(tree) == ["line 5: AzureError", "line 7: Exists"]


@pytest.mark.parametrize("path", _sdk_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_each_sdk_module_goes_through_the_one_mapping(path: Path):
    tree = ast.parse(path.read_text())
    if path.name in ("composition.py", "azure_retry_caps.py"):  # build clients and their retry policies, call none
        assert not _sdk_catches(tree)
        return
    helpers = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == azure_errors.__name__
               for a in n.names}  # fmt: skip
    assert helpers & {"call", "translated"}, f"{path.name} does not call the SDK through azure_errors"
    assert not _sdk_catches(tree), f"{path.name} catches SDK exceptions itself"
    wrappers = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in ("_call", "_translate")]
    assert not wrappers, f"{path.name} keeps its own wrapper {wrappers}"


def _http(status: int, code: str = "") -> HttpResponseError:
    exc = HttpResponseError(message=f"HTTP {status}")
    exc.status_code = status
    exc.error_code = code  # type: ignore[attr-defined]  # what the storage SDKs set on their errors
    return exc


@pytest.mark.parametrize(
    ("raised", "kind", "reason"),
    [
        (ResourceNotFoundError("gone"), NotFound, "not_found"),
        (ResourceExistsError("there"), Conflict, "conflict"),
        (ResourceModifiedError("changed"), Conflict, "conflict"),
        (ServiceRequestError("refused"), TransientError, "transient"),
        (ClientAuthenticationError("no"), PermanentError, "not_authorised"),
        (_http(404, "BlobNotFound"), NotFound, "not_found"),
        (_http(412, "ConditionNotMet"), Conflict, "conflict"),
        (_http(429), TransientError, "transient"),
        (_http(503, "ServerBusy"), TransientError, "transient"),
        (_http(400, "InvalidInput"), PermanentError, "service_refused"),
        (_http(403, "AuthorizationPermissionMismatch"), PermanentError, "not_authorised"),
        (_http(403, "AuthorizationFailure"), PermanentError, "not_authorised"),
        (_http(401, "InvalidAuthenticationInfo"), PermanentError, "not_authorised"),
    ],
)
def test_translate_sorts_sdk_errors_into_the_tree(raised, kind, reason):
    error = translate(raised, "thing")
    assert type(error) is kind and error.reason == reason


def thrown(error: AzureError, cause: BaseException | None = None) -> AzureError:
    """`error` as the SDK raises it, `raise error from cause`: the cause chain is Python's own."""
    try:
        raise error from cause
    except AzureError as caught:
        return caught


def answered(error: HttpResponseError, status: int, code: str = "") -> HttpResponseError:
    """`error` carrying a service's answer, as the SDKs set it from the response."""
    error.status_code, error.error_code = status, code  # type: ignore[attr-defined]
    return error


def cut_off() -> AzureError:
    """The storage SDK when a download's body is cut off (or stalls) past its retries, azure/storage/blob/
    _download.py: `raise HttpResponseError(error, error=error) from error`, with no response: no status."""
    inner = thrown(IncompleteReadError("IncompleteRead(10 bytes read, 90 more expected)"))
    return thrown(HttpResponseError(inner, error=inner), inner)


def no_token(cause: BaseException | None) -> AzureError:
    """azure-identity's ImdsCredential: every failure to get a token is CredentialUnavailableError, raised
    from what went wrong when the endpoint did not answer, from nothing when it answered with a refusal."""
    return thrown(CredentialUnavailableError("ManagedIdentityCredential authentication unavailable"), cause)


def identity_answer(status: int) -> AzureError:
    """azure-identity's ClientAuthenticationError carrying the identity endpoint's response (an unexpected one)."""
    return thrown(answered(ClientAuthenticationError("identity endpoint"), status))


def copy_source(status: int) -> AzureError:
    """The storage SDK picks ResourceNotFoundError from the code CannotVerifyCopySource, whatever the status."""
    return thrown(answered(ResourceNotFoundError(message="copy source"), status, "CannotVerifyCopySource"))


SDK_BUILT = {
    "body-cut-off": (cut_off(), TransientError, "transient"),
    "identity-endpoint-no-answer": (no_token(ServiceRequestError("refused")), TransientError, "transient"),
    "identity-endpoint-timed-out": (no_token(TimeoutError("timed out")), TransientError, "transient"),
    "identity-endpoint-refused": (no_token(None), PermanentError, "not_authorised"),
    "identity-endpoint-503": (identity_answer(503), TransientError, "transient"),
    "identity-endpoint-429": (identity_answer(429), TransientError, "transient"),
    "identity-endpoint-404": (identity_answer(404), PermanentError, "not_authorised"),
    "identity-endpoint-502-behind": (
        thrown(ClientAuthenticationError("x"), answered(HttpResponseError("y"), 502)), TransientError, "transient"),
    "refusal-behind-a-statusless-error": (
        thrown(HttpResponseError("x"), answered(HttpResponseError("y"), 400)), PermanentError, "service_refused"),
    "copy-source-500": (copy_source(500), TransientError, "transient"),
    "copy-source-403": (copy_source(403), PermanentError, "not_authorised"),
    "copy-source-404": (copy_source(404), NotFound, "not_found"),
}  # fmt: skip


@pytest.mark.parametrize(("raised", "kind", "reason"), SDK_BUILT.values(), ids=SDK_BUILT.keys())
def test_errors_the_sdks_build_are_sorted_by_status_then_by_what_stands_behind_them(raised, kind, reason):
    error = translate(raised, "photo site/a.jpg")
    assert type(error) is kind and error.reason == reason


@pytest.mark.parametrize(("raised", "kind", "reason"), SDK_BUILT.values(), ids=SDK_BUILT.keys())
def test_the_node_retries_exactly_what_the_app_retries(raised, kind, reason):
    assert node_translate(raised, "writing results/j_a/result.json").transient is (kind is TransientError)


def test_the_service_code_is_the_services_not_the_sdks_enum_name():
    # The storage SDK turns a code it knows into a StorageErrorCode member, on a 403 say.
    refused = answered(HttpResponseError("no"), 403, StorageErrorCode("AuthorizationFailure"))

    def read() -> None:
        raise refused

    with pytest.raises(PermanentError) as caught:
        call("photo", read)
    assert service_code(caught.value) == "AuthorizationFailure" and "StorageErrorCode" not in str(caught.value)


def test_call_and_translated_raise_the_translated_error_with_the_service_code_and_status():
    def refuse() -> None:
        raise _http(412, "LeaseIdMissing")

    with pytest.raises(Conflict) as caught:
        call("photo", refuse)
    assert service_code(caught.value) == "LeaseIdMissing" and service_status(caught.value) == 412

    def pages() -> Iterator[int]:  # a pager raises while it is iterated, after the call that made it returned
        yield 1
        raise _http(503, "ServerBusy")

    with pytest.raises(TransientError), translated("index"):
        list(pages())
    assert call("sum", sum, [1, 2]) == 3
    assert service_code(ValueError("no cause")) == "" and service_status(ValueError()) == 0


class _FailingPagesTable:
    """A table client whose listings fail on their second page, as a throttled service does mid-iteration."""

    def query_entities(self, *args: object, **kwargs: object) -> Iterator[dict[str, str]]:
        yield {"RowKey": "follower~j_a", "job_id": "j_a"}
        raise _http(503, "ServerBusy")


class _Tables:
    def create_table_if_not_exists(self, name: str) -> _FailingPagesTable:
        return _FailingPagesTable()


def test_a_listing_that_fails_while_it_is_iterated_leaves_the_adapter_translated():
    jobs = TableJobStore(_Tables())  # type: ignore[arg-type]
    hooks = TableWebhookStore(_Tables())  # type: ignore[arg-type]
    listings = [jobs.open_ids, lambda: jobs.followers("site", "sha"), hooks.list_subscriptions]
    for listing in listings:
        with pytest.raises(TransientError) as caught:
            listing()
        assert service_code(caught.value) == "ServerBusy"
