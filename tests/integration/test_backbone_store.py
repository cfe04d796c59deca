"""The outbox and idempotent consumption against the real database and broker."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

from devtools.secantus import free_port
from shared.config import Settings
from shared.db import get_database, transaction
from shared.idempotency import process_once
from shared.messaging.envelope import make_envelope, utcnow
from shared.messaging.publisher import Publisher, PublishError
from shared.messaging.topology import INTAKE_TRACKING, Topology
from shared.outbox import EVENTS_FIELD, PENDING_AT_FIELD, PUBLISHING, Outbox, ensure_outbox_indexes
from tests.integration.test_backbone_poison import drain
from tests.support.stack import wait_for


def status_event(reference: str = "LC-2026-000009"):
    return make_envelope(
        "case.status_changed",
        {"reference": reference, "status": "accepted", "changed_at": "2026-11-25T10:00:00+00:00"},
        source="test",
    )


def test_outbox_rows_roll_back_with_the_state_change(settings: Settings) -> None:
    db = get_database(settings, "test")
    outbox = Outbox(db, Publisher(settings), settings)
    try:
        with transaction(db) as session:
            db.things.insert_one({"_id": 1}, session=session)
            outbox.add([status_event()], session=session)
            raise RuntimeError("the use case failed after writing")
    except RuntimeError:
        pass
    assert db.things.count_documents({}) == 0
    assert db.outbox.count_documents({}) == 0


def test_relay_publishes_what_the_request_could_not_and_marks_it_sent(settings: Settings) -> None:
    db = get_database(settings, "test")
    ensure_outbox_indexes(db)
    publisher = Publisher(settings)
    publisher.publish(status_event("LC-2026-000001"))  # declares the system's queues
    drain(settings, Topology(settings).queue_name(INTAKE_TRACKING))
    outbox = Outbox(db, publisher, settings)
    events = [status_event(f"LC-2026-00001{i}") for i in range(3)]
    with transaction(db) as session:
        outbox.add(events, session=session)
    # As if the request died before flushing: age the rows past the grace period.
    db.outbox.update_many({}, {"$set": {"created_at": utcnow() - timedelta(seconds=60)}})

    assert outbox.relay_once() == 3
    assert outbox.pending_count() == 0
    assert outbox.relay_once() == 0  # nothing is published twice by the relay
    received = drain(settings, Topology(settings).queue_name(INTAKE_TRACKING))
    assert sorted(m.properties["message_id"] for m in received) == sorted(e.message_id for e in events)
    publisher.close()


def test_relay_leaves_fresh_rows_to_their_request(settings: Settings) -> None:
    db = get_database(settings, "test")
    outbox = Outbox(db, Publisher(settings), settings)
    with transaction(db) as session:
        outbox.add([status_event()], session=session)
    assert outbox.relay_once() == 0
    assert outbox.pending_count() == 1


def test_a_document_carrying_its_events_is_published_once_and_marked(settings: Settings) -> None:
    db = get_database(settings, "test")
    ensure_outbox_indexes(db, ("things",))
    publisher = Publisher(settings)
    publisher.publish(status_event("LC-2026-000001"))  # declares the system's queues
    queue = Topology(settings).queue_name(INTAKE_TRACKING)
    drain(settings, queue)
    outbox = Outbox(db, publisher, settings, carriers=("things",))

    flushed = status_event("LC-2026-000021")
    thing = {"_id": "flushed"}
    events = outbox.embed(thing, [flushed])
    db.things.insert_one(thing)
    assert outbox.pending_count() == 1
    assert outbox.flush_embedded("things", "flushed", events) == 1
    wait_for(lambda: outbox.pending_count() == 0, timeout=5, what="the published events marked sent")
    stored = db.things.find_one({"_id": "flushed"})
    assert PENDING_AT_FIELD not in stored and stored[EVENTS_FIELD][0]["message_id"] == flushed.message_id

    # As if the request died between the insert and the publish: the relay publishes it once.
    orphan = {"_id": "orphan"}
    lost = outbox.embed(orphan, [status_event("LC-2026-000022"), status_event("LC-2026-000023")])
    orphan[PENDING_AT_FIELD] = utcnow() - timedelta(seconds=60)
    db.things.insert_one(orphan)
    fresh = {"_id": "fresh"}
    outbox.embed(fresh, [status_event("LC-2026-000024")])  # within the grace period: its request's
    db.things.insert_one(fresh)
    assert outbox.relay_once() == 2
    assert outbox.relay_once() == 0
    assert outbox.pending_count() == 1
    received = drain(settings, queue)
    assert sorted(m.properties["message_id"] for m in received) == sorted(
        [flushed.message_id] + [e.message_id for e in lost]
    )
    publisher.close()


def test_a_batch_is_published_in_order_each_message_once_with_one_confirm_wait(settings: Settings) -> None:
    publisher = Publisher(settings)
    single = status_event("LC-2026-000030")
    publisher.publish(single)  # a confirmed publish first: the batch's delivery tags follow it
    queue = Topology(settings).queue_name(INTAKE_TRACKING)
    batch = [status_event(f"LC-2026-{n:06d}") for n in range(31, 71)]
    publisher.publish_many(batch)
    publisher.publish_many(batch[:3])  # the same events again: the broker takes them again
    after = status_event("LC-2026-000071")
    publisher.publish(after)  # and one-by-one publishing still works on the same channel
    received = [m.properties["message_id"] for m in drain(settings, queue)]
    expected = [single, *batch, *batch[:3], after]
    assert received == [e.message_id for e in expected]
    publisher.publish_many([])  # nothing to do: no round trip, no error
    publisher.close()


def test_a_batch_to_a_dead_broker_fails_fast_and_cools_down(settings: Settings) -> None:
    dead = replace(settings, broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//", connect_timeout=1.0)
    publisher = Publisher(dead)
    started = utcnow()
    try:
        publisher.publish_many([status_event(), status_event()])
    except PublishError:
        pass
    else:
        raise AssertionError("publishing a batch to a dead broker must raise")
    assert (utcnow() - started).total_seconds() < 10
    assert publisher.cooling_down


def test_documents_filed_at_once_are_published_in_batches_each_event_once(settings: Settings) -> None:
    """Many requests hand their documents to the publishing thread at once: every event reaches
    the broker exactly once, and every document is marked sent."""
    db = get_database(settings, "test")
    ensure_outbox_indexes(db, ("things",))
    publisher = Publisher(settings)
    publisher.publish(status_event("LC-2026-000001"))  # declares the system's queues
    queue = Topology(settings).queue_name(INTAKE_TRACKING)
    drain(settings, queue)
    outbox = Outbox(db, publisher, settings, carriers=("things",))
    published: list[str] = []
    lock = threading.Lock()

    def request(n: int) -> None:
        thing = {"_id": f"thing-{n}"}
        events = outbox.embed(thing, [status_event(f"LC-2026-{n:06d}"), status_event(f"LC-2026-{n:06d}")])
        db.things.insert_one(thing)
        with lock:
            published.extend(e.message_id for e in events)
        assert outbox.flush_embedded("things", thing["_id"], events) == 2

    threads = [threading.Thread(target=request, args=(n,)) for n in range(100, 160)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert PUBLISHING.drain(20)
    wait_for(lambda: outbox.pending_count() == 0, timeout=10, what="every document marked sent")
    received = [m.properties["message_id"] for m in drain(settings, queue)]
    assert sorted(received) == sorted(published) and len(set(received)) == 120
    assert outbox.relay_once() == 0  # nothing left for the relay to publish again
    publisher.close()


def test_embedding_needs_the_document_id(settings: Settings) -> None:
    outbox = Outbox(get_database(settings, "test"), Publisher(settings), settings, carriers=("things",))
    try:
        outbox.embed({"name": "no id yet"}, [status_event()])
    except ValueError as err:
        assert "_id" in str(err)
    else:
        raise AssertionError("an event embedded in a document without _id could never be marked sent")


def test_process_once_applies_an_effect_once_even_concurrently(settings: Settings) -> None:
    db = get_database(settings, "test")
    event = status_event()
    results: list[bool] = []
    errors: list[Exception] = []

    def effect(session) -> None:
        db.effects.update_one({"_id": "counter"}, {"$inc": {"n": 1}}, upsert=True, session=session)

    def consume() -> None:
        try:
            results.append(process_once(db, "test.consumer", event, effect))
        except Exception as err:  # a write conflict: the broker would redeliver
            errors.append(err)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Redeliveries of whatever conflicted: they must see the marker and do nothing.
    for _ in errors:
        results.append(process_once(db, "test.consumer", event, effect))
    assert results.count(True) == 1
    assert db.effects.find_one({"_id": "counter"})["n"] == 1
    # Another consumer of the same message has its own marker.
    assert process_once(db, "other.consumer", event, effect) is True


def test_publish_fails_fast_when_broker_is_unreachable(settings: Settings) -> None:
    dead = replace(settings, broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//", connect_timeout=1.0)
    publisher = Publisher(dead)
    started = utcnow()
    try:
        publisher.publish(status_event())
    except PublishError:
        pass
    else:
        raise AssertionError("publishing to a dead broker must raise")
    assert (utcnow() - started).total_seconds() < 10
    assert publisher.cooling_down


def test_sent_events_and_processed_markers_expire(settings: Settings) -> None:
    from services.intake.bootstrap import ensure_indexes

    db = get_database(settings, "intake")
    ensure_indexes(db)
    outbox_ttl = next(i for i in db.outbox.index_information().values() if "expireAfterSeconds" in i)
    assert outbox_ttl["key"] == [("sent_at", 1)]
    assert dict(outbox_ttl["partialFilterExpression"]) == {"status": "sent"}
    processed_ttl = next(i for i in db.processed.index_information().values() if "expireAfterSeconds" in i)
    assert processed_ttl["expireAfterSeconds"] >= 30 * 24 * 3600
