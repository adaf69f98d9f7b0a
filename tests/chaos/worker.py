"""A provisioning worker process for the kill -9 tests: drains a Storage queue (Azurite) with the real
handler, against the Dataverse sandbox and Partner Center (through the fault proxy), until killed or
idle. Configured by environment: CHAOS_QUEUE_CONN, CHAOS_QUEUE, CHAOS_DV_URL, CHAOS_PC_URL,
CHAOS_IDLE_SECONDS (exit after this long with nothing to do), CHAOS_VISIBILITY (seconds)."""

from __future__ import annotations

import os
import sys
import time


def main() -> int:
    from dataverse.client import DataverseClient
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from shared.auth import static_token
    from shared.http import RetryPolicy
    from shared.queue import StorageQueue, drain
    from sync import provisioning

    retry = RetryPolicy(max_attempts=5, base_seconds=0.01, cap_seconds=0.05, max_retry_after=0.05)
    dv = DataverseClient(os.environ["CHAOS_DV_URL"], static_token("sandbox-token"), retry=retry, timeout=10.0)
    pc = PartnerCenterAdapter(os.environ["CHAOS_PC_URL"], static_token("sandbox-token"), retry=retry, timeout=2.0)
    queue = StorageQueue(os.environ["CHAOS_QUEUE_CONN"], os.environ["CHAOS_QUEUE"], max_deliveries=50)
    idle = float(os.environ.get("CHAOS_IDLE_SECONDS", "5"))
    visibility = int(os.environ.get("CHAOS_VISIBILITY", "2"))
    last_work = time.monotonic()

    def handle(message) -> None:  # type: ignore[no-untyped-def]
        provisioning.handle_message(message.body, dv=dv, adapters={1: pc}, delivery_count=message.delivery_count,
                                    max_attempts=queue.max_deliveries)

    print("ready", flush=True)
    while time.monotonic() - last_work < idle:
        done = drain(queue, handle, batch=1, max_rounds=1, visibility_timeout=visibility)
        if done.completed or done.retried or done.dead_lettered:
            last_work = time.monotonic()
        else:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
