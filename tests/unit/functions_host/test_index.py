"""The binding index: what the worker would accept or refuse, read from real FunctionApp objects."""

from __future__ import annotations

from pathlib import Path

import azure.functions as func
import pytest

from emulators.functions_host.index import IndexingError, index_app, load_app

REPO = Path(__file__).resolve().parents[3]


def test_the_real_function_app_indexes():
    specs = {s.name: s for s in index_app(load_app(REPO))}
    health = specs["get_health"]
    assert health.trigger.type == "httpTrigger"
    assert health.trigger.get("route") == "health"
    assert health.trigger.get("authLevel") == "ANONYMOUS"
    assert health.has_return_binding()


def test_indexing_twice_works_despite_get_functions_single_use():
    app = load_app(REPO)
    assert [s.name for s in index_app(app)] == [s.name for s in index_app(app)]


def test_bindings_outputs_and_settings_placeholders_are_kept():
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="%IN%", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="results", connection="AzureWebJobsStorage")
    @app.blob_input(arg_name="photo", path="photos/{name}", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage, out: func.Out[str], photo: bytes) -> None: ...

    [spec] = index_app(app)
    assert spec.trigger.get("queueName") == "%IN%"  # resolved by the host, not the library
    assert [b.name for b in spec.outputs()] == ["out"]
    assert [b.name for b in spec.inputs()] == ["photo"]
    assert spec.wants_raw("photo") and not spec.wants_raw("msg")
    assert spec.function_id == "Host.Functions.work"
    assert not spec.has_return_binding()


def test_parameter_without_binding_is_refused():
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    def work(msg: str, extra: str) -> None: ...

    with pytest.raises(IndexingError, match="params without binding: extra"):
        index_app(app)


def test_output_binding_must_be_an_out():
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="r", connection="AzureWebJobsStorage")
    def work(msg: str, out: str) -> None: ...

    with pytest.raises(IndexingError, match=r"func\.Out"):
        index_app(app)


def test_context_parameter_is_injected_not_bound():
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    def work(msg: str, context: func.Context) -> None: ...

    [spec] = index_app(app)
    assert spec.takes_context


def test_duplicate_function_names_fail_indexing():
    app = func.FunctionApp()

    @app.function_name("same")
    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    def a(msg: str) -> None: ...

    @app.function_name("same")
    @app.queue_trigger(arg_name="msg", queue_name="r", connection="AzureWebJobsStorage")
    def b(msg: str) -> None: ...

    with pytest.raises(IndexingError, match="unique"):
        index_app(app)


def test_app_folder_without_function_app_is_an_error(tmp_path):
    with pytest.raises(IndexingError, match="not found"):
        load_app(tmp_path)


def test_two_function_apps_in_one_module_are_refused(tmp_path):
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\na = func.FunctionApp()\nb = func.FunctionApp()\n"
    )
    with pytest.raises(IndexingError, match="More than one"):
        load_app(tmp_path)
