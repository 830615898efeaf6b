"""The request counter reads what Azurite, the Batch service and the Functions host log, line shapes as each
writes them (Azurite 3.36's --debug log; the services' Python logging format)."""

from __future__ import annotations

from pathlib import Path

from emulators.request_counter import RequestCounter, parse_azurite, parse_batch, parse_executions

RID = "42c0a953-0450-4d1b-908f-d1bb02752146"
OTHER = "1886d2f3-ebe1-421a-8cfd-d57b321b0cdc"
ACCOUNT = "http://127.0.0.1/devstoreaccount1"


def azurite_request(rid: str, service: str, url: str, operation: str, *, status: int = 200, method: str = "GET") -> str:
    t = "2026-12-06T02:08:19.156Z"
    return "\n".join([
        f'{t} {rid} info: {service}StorageContextMiddleware: RequestMethod={method} RequestURL={url} '
        'RequestHeaders:{"host":"127.0.0.1:10000"}',
        f"{t} {rid} verbose: DispatchMiddleware: Dispatching request...",
        f"{t} {rid} info: DispatchMiddleware: Operation={operation}",
        f"{t} {rid} info: EndMiddleware: End response. TotalTimeInMS=3 StatusCode={status} StatusMessage=x",
    ]) + "\n"  # fmt: skip


def test_an_azurite_request_is_counted_by_service_operation_resource_and_status() -> None:
    text = azurite_request(RID, "Table", "http://127.0.0.1/devstoreaccount1/jobs(PartitionKey='a',RowKey='b')",
                           "Table_UpdateEntity", status=412, method="PUT")  # fmt: skip
    [request] = parse_azurite(text)
    assert (request.service, request.operation, request.resource, request.status) == (
        "table", "Table_UpdateEntity", "jobs", 412)  # fmt: skip
    assert request.kind == "table Table_UpdateEntity -> 412"  # a lost conditional write is its own kind


def test_interleaved_requests_are_told_apart_by_their_id_and_a_cut_request_is_skipped() -> None:
    first = azurite_request(RID, "Blob", "http://127.0.0.1/devstoreaccount1/photos/a.jpg?comp=block",
                            "BlockBlob_StageBlock", status=201).splitlines()  # fmt: skip
    second = azurite_request(OTHER, "Queue", "http://127.0.0.1/devstoreaccount1/completions/messages",
                             "Messages_Enqueue", status=201).splitlines()  # fmt: skip
    mixed = [line for pair in zip(first, second, strict=True) for line in pair]
    kinds = [r.kind for r in parse_azurite("\n".join(mixed))]
    assert sorted(kinds) == ["blob BlockBlob_StageBlock", "queue Messages_Enqueue"]
    assert parse_azurite("\n".join(second[2:])) == []  # its start was before the mark: not counted


def test_batch_requests_are_counted_by_route_template_and_refusals_by_status() -> None:
    log = (
        "2026-12-06 02:10:46,251 INFO    emulators.batch_service.request_log: request POST /jobs/{job}/tasks 201\n"
        "2026-12-06 02:10:46,252 INFO    emulators.batch_service.request_log: request POST /jobs/{job}/tasks 409\n"
        "2026-12-06 02:10:46,259 INFO    something.else: request GET /pools/{pool} 200\n"
    )
    assert parse_batch(log) == {"batch POST /jobs/{job}/tasks": 1, "batch POST /jobs/{job}/tasks -> 409": 1}


def test_executions_are_counted_by_function_with_their_milliseconds() -> None:
    log = (
        "2026-12-06 INFO    emulators.functions_host.invocations: Executed 'Functions.on_photo_uploaded' "
        "(Succeeded, Id=f1b4f7de, Duration=681ms)\n"
        "2026-12-06 WARNING emulators.functions_host.invocations: Executed 'Functions.on_notification' "
        "(Failed, Id=aa, Duration=35ms): InvocationFailed: boom\n"
    )
    runs, ms = parse_executions(log)
    assert runs == {"on_photo_uploaded": 1, "on_notification (failed)": 1}
    assert ms == {"on_photo_uploaded": 681, "on_notification": 35}


def test_since_a_mark_counts_only_what_was_appended_and_keeps_the_hosts_own_traffic_apart(tmp_path: Path) -> None:
    azurite, batch, host = tmp_path / "azurite.log", tmp_path / "batch.log", tmp_path / "host.log"
    before = azurite_request(RID, "Blob", f"{ACCOUNT}/photos/a.jpg", "Blob_GetProperties")
    azurite.write_text(before)
    counter = RequestCounter(azurite, batch, host)
    mark = counter.mark()  # batch and host logs do not exist yet: counted from their start
    with azurite.open("a") as f:
        f.write(azurite_request(OTHER, "Blob", "http://127.0.0.1/devstoreaccount1/results/j/result.json",
                                "Blob_Download"))  # fmt: skip
        f.write(azurite_request(RID.replace("4", "5"), "Blob",
                                "http://127.0.0.1/devstoreaccount1/azure-webjobs-hosts/blobreceipts/x",
                                "BlockBlob_Upload", status=201))  # fmt: skip
        f.write(azurite_request(RID.replace("4", "6"), "Queue",
                                f"{ACCOUNT}/completions/messages", "Messages_Dequeue"))  # fmt: skip
    counts = counter.since(mark)
    assert counts.storage == {"blob Blob_Download": 1}
    assert counts.by_resource == {"blob results": 1}
    assert counts.host_storage == {"blob BlockBlob_Upload": 1, "queue Messages_Dequeue": 1}
