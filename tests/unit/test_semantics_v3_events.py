"""§12.19 event bus: bounded per subscriber, a slow one is dropped, the others unaffected."""

from __future__ import annotations

import asyncio

from kato.service.v3_events import Event, EventBus


async def test_a_slow_subscriber_is_dropped_at_its_bound_and_others_keep_receiving() -> None:
    bus = EventBus(asyncio.get_running_loop(), queue_size=3)
    slow = bus.subscribe(lambda event: True)
    fast = bus.subscribe(lambda event: True)
    received = []
    for number in range(5):
        bus.publish(Event("session.created", {"n": number}))
        received.append(await fast.next())  # the fast one keeps up
    assert [event.data["n"] for event in received if event] == [0, 1, 2, 3, 4]
    assert slow.overflowed and bus.subscribers == 1  # dropped at the 4th event
    assert slow.queue.qsize() == 4  # three events and the end marker: never more
    assert await slow.next() is None


async def test_subscribers_see_only_what_they_want_and_threads_may_publish() -> None:
    bus = EventBus(asyncio.get_running_loop())
    mine = bus.subscribe(lambda event: event.node_id == "a")
    await asyncio.to_thread(bus.publish, Event("session.created", {}, node_id="b"))
    await asyncio.to_thread(bus.publish, Event("session.created", {"x": 1}, node_id="a"))
    event = await asyncio.wait_for(mine.next(), 5)
    assert event is not None and event.data == {"x": 1}
    assert mine.queue.empty()
