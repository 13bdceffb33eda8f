"""A sweep in a process of its own that stops dead (SIGKILL from the test) at its n-th file
removal: ``python sweep_child.py DATABASE_URL STORE_DIR AS_OF N``. It prints ``removing`` and
waits there, after the batch was marked and before that file goes."""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path

from callcenter.store import create_engine, session_factory
from recordings.policy import RetentionPolicy
from recordings.store import RecordingStore
from recordings.sweep import Sweeper


class StoppingStore(RecordingStore):
    def __init__(self, root: Path, stop_at: int) -> None:
        super().__init__(root)
        self.calls = 0
        self.stop_at = stop_at

    def delete(self, sha256: str) -> int:
        self.calls += 1
        if self.calls == self.stop_at:
            print("removing", flush=True)
            sys.stdin.read()  # until killed
        return super().delete(sha256)


async def main(url: str, root: str, as_of: str, stop_at: int) -> None:
    engine = create_engine(url)
    sweeper = Sweeper(session_factory(engine), StoppingStore(Path(root), stop_at),
                      RetentionPolicy(), batch=2)
    await sweeper.run(date.fromisoformat(as_of))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
