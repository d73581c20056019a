import threading

from recstream.models.store.runs import RunQueue


def test_retrain_requests_are_debounced_while_one_waits(engine):
    runs = RunQueue(engine)
    first, created = runs.request_retrain(trigger="drift", requested_by="monitor", reason="report 3")
    again, created_again = runs.request_retrain(trigger="manual", requested_by="ops")
    assert created and not created_again and again == first
    assert runs.next_request() == first
    assert runs.start_run(first, trigger="drift", requested_by="monitor") == first
    assert runs.next_request() is None
    # A second scheduler that saw the same request cannot claim it again.
    assert runs.start_run(first, trigger="drift", requested_by="monitor") is None


def test_training_lock_admits_one_holder_at_a_time(engine):
    runs = RunQueue(engine)
    winners = []

    def grab(name):
        if runs.acquire_training_lock(name):
            winners.append(name)

    threads = [threading.Thread(target=grab, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert not runs.acquire_training_lock("late")
    runs.release_training_lock(winners[0])
    assert runs.acquire_training_lock("late")
    # A holder silent past the stale limit loses the lock.
    assert runs.acquire_training_lock("rescuer", stale_after_s=-1)
