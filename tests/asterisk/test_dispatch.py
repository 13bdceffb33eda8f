"""Ordered per-key dispatch, concurrency across keys, eviction and the slow-handler watchdog."""

from __future__ import annotations

import asyncio
import weakref

from dispatch_probe import live_consumer_keys
from structlog.testing import capture_logs

from callcenter.asterisk.dispatch import OrderedDispatcher

WAIT = 5.0


async def test_events_of_one_key_are_handled_in_order_even_when_handlers_await() -> None:
    seen: list[int] = []

    async def handler(n: int) -> None:
        await asyncio.sleep(0)  # yield mid-handler: a later event must still wait its turn
        seen.append(n)

    d: OrderedDispatcher[int] = OrderedDispatcher(lambda e: (handler,))
    for n in range(50):
        d.submit("channel:1", n)
    async with asyncio.timeout(WAIT):
        await d.drain()
    await d.close()
    assert seen == list(range(50))


async def test_keys_run_concurrently_a_blocked_channel_does_not_block_another() -> None:
    gate = asyncio.Event()
    other_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def handler(e: tuple[str, int]) -> None:
        if e[0] == "a":
            await gate.wait()
        else:
            other_done.set_result(None)

    d: OrderedDispatcher[tuple[str, int]] = OrderedDispatcher(lambda e: (handler,))
    d.submit("a", ("a", 1))
    d.submit("b", ("b", 1))
    async with asyncio.timeout(WAIT):
        await other_done  # b finished while a is still blocked
    assert not gate.is_set()
    gate.set()
    async with asyncio.timeout(WAIT):
        await d.drain()
    await d.close()


async def test_last_event_evicts_the_key_consumer() -> None:
    d: OrderedDispatcher[int] = OrderedDispatcher(lambda e: (lambda _e: None,))
    d.submit("channel:1", 1)
    d.submit("channel:1", 2, last=True)
    d.submit("channel:2", 3)
    async with asyncio.timeout(WAIT):
        await d.drain()
    assert live_consumer_keys("dispatch") == ["channel:2"]
    await d.close()
    assert live_consumer_keys("dispatch") == []


async def test_an_idle_consumer_keeps_no_event_alive() -> None:
    """A consumer waits up to ``idle_timeout`` for its key's next event (a minute for a
    call's AMI key): the last event it handled is not kept alive meanwhile."""
    class Event:
        pass

    d: OrderedDispatcher[Event] = OrderedDispatcher(lambda e: (lambda _e: None,))
    event = Event()
    alive = weakref.ref(event)
    d.submit("channel:1", event)
    del event
    async with asyncio.timeout(WAIT):
        await d.drain()
    assert live_consumer_keys("dispatch") == ["channel:1"]  # waiting for the key's next
    assert alive() is None
    await d.close()


async def test_idle_consumer_is_evicted_after_idle_timeout() -> None:
    d: OrderedDispatcher[int] = OrderedDispatcher(lambda e: (lambda _e: None,), idle_timeout=0.01)
    d.submit("channel:1", 1)
    task = next(iter(d._consumers.values())).task
    assert task is not None
    async with asyncio.timeout(WAIT):
        await task  # the consumer ends by itself once idle
    assert live_consumer_keys("dispatch") == []
    await d.close()


async def test_watchdog_logs_a_handler_slower_than_the_bound() -> None:
    release = asyncio.Event()

    async def slow(e: int) -> None:
        await release.wait()

    reported: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    d: OrderedDispatcher[int] = OrderedDispatcher(
        lambda e: (slow,), slow_handler_seconds=0.02,
        on_slow=lambda key, s: reported.done() or reported.set_result(key))
    with capture_logs() as logs:
        d.submit("channel:9", 1)
        async with asyncio.timeout(WAIT):
            # the watchdog reports the still-hung handler; release it once reported
            assert await reported == "channel:9"
        release.set()
        async with asyncio.timeout(WAIT):
            await d.drain()
    await d.close()
    running = [r for r in logs if r["event"] == "event handler still running"]
    assert running[0]["key"] == "channel:9" and running[0]["bound"] == 0.02
    assert running[0]["log_level"] == "warning"


async def test_fast_handlers_are_not_reported_slow() -> None:
    d: OrderedDispatcher[int] = OrderedDispatcher(lambda e: (lambda _e: None,))
    with capture_logs() as logs:
        for n in range(10):
            d.submit("k", n)
        async with asyncio.timeout(WAIT):
            await d.drain()
    await d.close()
    assert not [r for r in logs if "slow" in r["event"] or "still running" in r["event"]]


async def test_close_cancels_every_consumer_task() -> None:
    d: OrderedDispatcher[int] = OrderedDispatcher(lambda e: (lambda _e: asyncio.Event().wait(),))
    d.submit("a", 1)
    d.submit("b", 2)
    tasks = [c.task for c in d._consumers.values()]
    await asyncio.sleep(0)
    await d.close()
    assert all(t is not None and t.done() for t in tasks)


async def test_close_ends_a_consumer_whose_handler_swallowed_the_cancellation() -> None:
    """A handler that catches the close's cancellation and returns must not keep its
    consumer waiting for events that never come (a product stop hung there for hours:
    the AMI client's close waited for that consumer forever). The handler is named."""
    started = asyncio.Event()
    swallowed_once: list[int] = []

    async def swallows(event: int) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if swallowed_once:
                raise  # the test's own end (pytest's loop teardown) is not held
            swallowed_once.append(event)  # the fault: the close's cancellation goes no further

    d: OrderedDispatcher[int] = OrderedDispatcher(lambda e: (swallows,))
    d.submit("a", 1)
    d.submit("a", 2)  # queued behind: dropped by the close
    await started.wait()
    with capture_logs() as logs:
        closing = asyncio.ensure_future(d.close())
        done, _ = await asyncio.wait({closing}, timeout=WAIT)  # not cancelled: it would hang
    assert closing in done, "the close still waits for the consumer"
    swallowed = [r for r in logs if r["event"] == "event handler swallowed a cancellation"]
    assert [r["handler"] for r in swallowed] == [swallows.__qualname__]
