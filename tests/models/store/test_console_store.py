"""What the console keeps in the database: dead letters as rows (once per source offset, the newest kept) and
the workers' samples behind its charts (rates from growing totals, restarts included)."""

from recstream.models.store.dead_letters import VALUE_HEAD, DeadLetter, DeadLetterLog
from recstream.models.store.history import History, Sample


def letter(offset: int, code: str = "schema", reason: str = "bad") -> DeadLetter:
    return DeadLetter.of(code, reason, "t", offset % 2, offset, 1000.0 + offset, b"u1", b"x" * 2000)


def test_dead_letters_are_kept_once_per_source_offset_newest_first_and_pruned_to_the_newest(engine):
    log = DeadLetterLog(engine)
    log.add([letter(i) for i in range(10)])
    log.add([letter(i, "not_json") for i in range(5, 15)])  # 5..9 again (a batch read twice): kept once
    assert log.counts() == {"schema": 10, "not_json": 5}
    newest = log.newest(3)
    assert [d["source_offset"] for d in newest] == [14, 13, 12] and len(newest[0]["value_head"]) == VALUE_HEAD
    assert [d["code"] for d in log.newest(50, code="schema")] == ["schema"] * 10
    assert log.prune(keep=4) == 11 and log.counts() == {"not_json": 4}
    assert log.prune(keep=4) == 0


def test_a_chart_sums_the_workers_rates_from_their_totals_and_survives_a_restart(engine):
    h = History(engine)
    for i in range(60):  # two workers, a sample every 10 s; b restarts at i = 30 (its totals begin again)
        h.record(Sample("a", 10.0 * i, consumed=100 * i, learned=100 * i, dead_lettered=i, requests=i, lag=2,
                        served_recall=0.2, p50_ms=1.0, p99_ms=4.0))
        j = i if i < 30 else i - 30
        h.record(Sample("b", 10.0 * i, consumed=50 * j, learned=50 * j, dead_lettered=0, requests=i, lag=3,
                        served_recall=0.4, p50_ms=3.0, p99_ms=9.0))
    points = h.series(100.0, 590.0, buckets=49)
    assert len(points) == 50 and all(p.workers == 2 for p in points)
    assert all(abs(p.events_per_s - 15.0) < 1e-6 for p in points if p.at != 300.0)  # 10/s + 5/s
    assert all(p.lag == 5 and abs(p.served_recall - 0.3) < 1e-9 and p.p99_ms == 9.0 for p in points)
    assert abs(points[0].dead_letters_per_s - 0.1) < 1e-9
    assert h.prune(before=300.0) == 60 and len(h.series(0.0, 590.0)) == 29
