"""Azurite (the Storage queue) stopped and restarted while webhooks arrive: deliveries during the outage
answer 503 and stay Received, Dataverse's retries enqueue them once storage is back, and every order
is bought exactly once: 0 orders lost on queue failures."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.config import Secret, Settings
from shared.queue import PROVISIONING_QUEUE, StorageQueue, drain, get_queue, reset_in_process_queues
from sync import provisioning
from sync.inbox import InboxStatus, accept_delivery, sweep
from tests.chaos.test_partner_center_chaos import _accounts, _orders, _tally
from tests.conftest import AZURITE_ACCOUNT, AZURITE_KEY, REPO, _free_port, _wait_port

pytestmark = pytest.mark.integration

KEY = "chaos-outage-key"


class Azurite:
    """One Azurite with its data on disk, so a stop and a restart keep the queue's messages."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.blob_port, self.queue_port, self.table_port = _free_port(), _free_port(), _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{AZURITE_ACCOUNT};"
                f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{AZURITE_ACCOUNT};")

    def start(self) -> None:
        binary = REPO / "node_modules" / ".bin" / "azurite"
        self.proc = subprocess.Popen(
            [str(binary), "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl", "--location",
             str(self.workdir), "--blobHost", "127.0.0.1", "--blobPort", str(self.blob_port), "--queueHost",
             "127.0.0.1", "--queuePort", str(self.queue_port), "--tableHost", "127.0.0.1", "--tablePort",
             str(self.table_port)], cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.blob_port)
        _wait_port(self.queue_port)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # it waits for keep-alive clients; a crash does not
            self.proc.kill()
            self.proc.wait(timeout=10)
        for port in (self.blob_port, self.queue_port):
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", port)) != 0, "Azurite still answering"


def _delivery(record_id: str) -> bytes:
    return json.dumps({
        "MessageName": "Create", "PrimaryEntityName": "cspb_licensechangelog", "PrimaryEntityId": record_id,
        "CorrelationId": str(uuid.uuid4()), "RequestId": str(uuid.uuid4()), "Depth": 1, "Stage": 40, "Mode": 1,
        "InputParameters": [], "PreEntityImages": [], "PostEntityImages": [], "OutputParameters": []}).encode()


def test_queue_outage_loses_no_order(dv, dv_server, sync_pc, sync_pc_server, tmp_path) -> None:
    azurite = Azurite(tmp_path / "azurite")
    azurite.workdir.mkdir()
    azurite.start()
    try:
        settings = Settings(mode="sandbox", webhook_key=Secret(KEY), dataverse_url=dv_server.url,
                            queue_backend="azurite", storage_connection_string=Secret(azurite.connection_string))
        reset_in_process_queues()
        # Before the clock starts: the intake's queue client is built once per process (SDK imports,
        # the queues and the dedupe container created), which under load alone can outlast the
        # intake deadline; a warm Function instance has it already. Each delivery is then timed on
        # its own work.
        get_queue(PROVISIONING_QUEUE, settings, intake=True)
        messages = _orders(dv, _accounts(dv, sync_pc), 9, "outage")
        bodies = {m["recordId"]: _delivery(m["recordId"]) for m in messages}
        before = sync_pc_server.app.state.checkouts
        answers: dict[str, int] = {}

        def deliver(record_id: str) -> int:
            out = accept_delivery(bodies[record_id], {"x-functions-key": KEY}, dv=dv, settings=settings)
            answers[f"{out.status}"] = answers.get(f"{out.status}", 0) + 1
            return out.status

        ids = list(bodies)
        assert [deliver(i) for i in ids[:3]] == [202] * 3
        azurite.stop()
        during = [deliver(i) for i in ids[3:6]]
        assert during == [503] * 3
        waiting = [dv.get_by_key("cspb_inboxes", {"cspb_eventkey": k}, select=["cspb_status"])
                   for k in [r["cspb_eventkey"] for r in dv.list("cspb_inboxes", select=["cspb_eventkey",
                                                                                           "cspb_recordid"])
                             if r["cspb_recordid"] in ids[3:6]]]
        assert [w["cspb_status"] for w in waiting] == [InboxStatus.RECEIVED] * 3
        time.sleep(0.5)
        azurite.start()
        # Dataverse retries the deliveries it got 503 for; the rest arrive normally.
        assert [deliver(i) for i in ids[3:]] == [202] * 6

        queue = StorageQueue(azurite.connection_string, PROVISIONING_QUEUE, max_deliveries=10)
        done = drain(queue, lambda m: provisioning.handle_message(m.body, dv=dv, adapters={1: sync_pc}),
                     visibility_timeout=5)
        # A message the stopped Azurite had not saved yet leaves its row Queued: the sweeper re-queues it.
        swept = sweep(dv, queue, minutes=30, now=datetime.now(UTC) + timedelta(minutes=31))
        done2 = drain(queue, lambda m: provisioning.handle_message(m.body, dv=dv, adapters={1: sync_pc}),
                      visibility_timeout=5)
        tally = _tally(dv, sync_pc_server, messages, before)
        stuck = [r for r in dv.list("cspb_inboxes", select=["cspb_status"])
                 if r["cspb_status"] in (InboxStatus.RECEIVED, InboxStatus.QUEUED)]
        print(f"\nqueue outage: answers {answers}, drained {done.completed}, swept {len(swept.requeued)} "
              f"(then drained {done2.completed}), {tally}, inbox rows stuck {len(stuck)}")
        assert tally["missing"] == 0 and tally["double"] == 0 and tally["purchases"] == 9
        assert stuck == []
    finally:
        reset_in_process_queues()
        if azurite.proc is not None and azurite.proc.poll() is None:
            azurite.proc.terminate()
