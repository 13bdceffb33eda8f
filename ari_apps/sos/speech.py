"""Where per-incident speech is made, how many at once, and which wait or are dropped.

Each speech is espeak-ng piped into sox (``dialplan.sounds.speak``), some 40–80 ms of CPU,
run by a worker process of a pool (``SpeakerPool``) at a lower CPU priority than the
calls: the event loop only hands over the text and takes the WAV back (about 0.3 ms),
it starts no process and holds its interpreter for none of the work. A burst of SOS
presses must not turn into a burst of speeches: at most ``SOS_SPEECH_AT_ONCE`` run at
once (the pool has that many workers), the others wait in a short queue, in order. Nothing on
a call waits for this queue: a leg that needs its prompt before it is made hears the
generic one (``responders.py``) and marks the speech *late*. Under overload (others are
waiting behind it) a late speech that has not started is dropped, as is any speech of an
incident that ended; when the queue is full, late speeches make room first, else the new
one is refused (its incident keeps the generic prompts).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from dialplan.sounds import speak

Speaker = Callable[[str], Awaitable[bytes]]

#: The workers' CPU priority below the product's (``nice``): on a busy machine a prompt is
#: late (the generic one stands in), a call never is.
NICENESS = 10

#: Waiting speeches per speech allowed at once. At one at a time a speech takes some 60 ms,
#: so 16 is about a second of waiting: a speech further back would be ready only after the
#: people it is for have answered (it is asked for half a second after the first ring), and
#: refusing it at once costs nothing but the generic prompt.
WAITING_PER_SLOT = 16


def _lower_priority() -> None:
    os.nice(NICENESS)


class SpeakerPool:
    """``dialplan.sounds.speak`` in ``workers`` processes of their own, started on first use
    (spawned: nothing of this process's state is copied into them)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    async def __call__(self, text: str) -> bytes:
        pool = self._pool
        if pool is None:
            pool = self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, speak, text)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): this speech fails (the generic prompt
            # stands in) and the next one gets a fresh pool.
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise

    async def close(self) -> None:
        """Stop the workers (a speech being made is finished first, a waiting one dropped)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


class SpeechRefused(Exception):
    """Not made: the queue is full, or nobody will hear it (late, under overload)."""


@dataclass(eq=False)
class _Waiting:
    turn: asyncio.Future[None]
    late: Callable[[], bool]


class SpeechQueue:
    """At most ``at_once`` speeches made at once; a bounded queue of the others."""

    def __init__(self, speak: Speaker, at_once: int,
                 limit: int | None = None) -> None:
        #: How a text is spoken (a ``SpeakerPool``; tests put a stand-in here).
        self.speak = speak
        self.at_once = at_once
        self.limit = limit if limit is not None else WAITING_PER_SLOT * at_once
        self.running = 0
        #: The most speeches that ever ran at once (the bench and the tests read it).
        self.most = 0
        self.dropped = 0
        self.refused = 0
        self._waiting: deque[_Waiting] = deque()

    async def close(self) -> None:
        """The product stops: the speaker's workers too."""
        if isinstance(self.speak, SpeakerPool):
            await self.speak.close()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def say(self, text: str, late: Callable[[], bool] = lambda: False) -> bytes:
        """``text`` spoken, when its turn comes; ``late()`` tells whether the people it
        was for were already given the generic prompt (then, under overload, it is dropped).

        Raises ``SpeechRefused`` if it is not made.
        """
        await self._turn(late)
        try:
            return await self.speak(text)
        finally:
            self._release()

    async def _turn(self, late: Callable[[], bool]) -> None:
        if self.running < self.at_once and not self._waiting:
            self._start()
            return
        if len(self._waiting) >= self.limit:
            self._shed()
            if len(self._waiting) >= self.limit:
                self.refused += 1
                raise SpeechRefused("too many speeches waiting")
        waiting = _Waiting(asyncio.get_running_loop().create_future(), late)
        self._waiting.append(waiting)
        try:
            await waiting.turn
        except asyncio.CancelledError:
            if waiting in self._waiting:
                self._waiting.remove(waiting)  # the incident ended while it waited
            elif waiting.turn.done() and not waiting.turn.cancelled() \
                    and waiting.turn.exception() is None:
                self._release()  # its turn came as it was cancelled: pass it on
            raise

    def _start(self) -> None:
        self.running += 1
        self.most = max(self.most, self.running)

    def _release(self) -> None:
        self.running -= 1
        while self._waiting and self.running < self.at_once:
            waiting = self._waiting.popleft()
            if waiting.turn.done():
                continue  # cancelled meanwhile
            if waiting.late() and self._waiting:
                self.dropped += 1  # overload: others wait, and its people were served
                waiting.turn.set_exception(SpeechRefused("late, under overload"))
                continue
            self._start()
            waiting.turn.set_result(None)

    def _shed(self) -> None:
        """Drop the waiting speeches nobody will hear first."""
        for waiting in [w for w in self._waiting if w.late()]:
            self._waiting.remove(waiting)
            self.dropped += 1
            if not waiting.turn.done():
                waiting.turn.set_exception(SpeechRefused("late, under overload"))
