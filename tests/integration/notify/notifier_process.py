"""A Notifier in its own process, run until killed: `python -m tests.integration.notify.notifier_process URL ID`.

The config (as in vigil.yaml, in JSON) comes on stdin; "ready" is printed once the Notifier has started.
"""

from __future__ import annotations

import asyncio
import json
import sys

from prometheus_client import CollectorRegistry

from collector.notify import Notifier
from collector.settings import Settings
from collector.store.db import Database
from tests.integration.notify.harness import TEMPLATES


async def main(url: str, instance_id: str, settings_json: str) -> None:
    db = Database(url)
    await db.open()
    notifier = Notifier(
        db=db,
        settings=Settings.model_validate(json.loads(settings_json)),
        templates_dir=TEMPLATES,
        external_url="http://vigil.test:8080",
        registry=CollectorRegistry(),
        instance_id=instance_id,
    )
    await notifier.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.stdin.read()))
