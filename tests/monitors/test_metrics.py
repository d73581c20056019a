"""Worker metrics: counters read at scrape time, histograms observed as work happens, all in Prometheus format."""

from recstream.monitors.metrics import Snapshot, WorkerMetrics, parse


def test_metrics_render_the_workers_state_at_scrape_time():
    state = Snapshot(consumed=10, learned=8, batch_failures=1, dead_lettered={"schema": 2}, lag={("behaviour", 0): 5},
                     prequential_recall_at_10=0.2, deep_versions={"live": "deep-3"})
    m = WorkerMetrics(lambda: state)
    m.learn_batch_seconds.observe(0.02)
    with m.request_seconds.time():
        pass
    first = parse(m.render().decode())
    assert first["recstream_events_consumed_total"] == 10 and first["recstream_events_learned_total"] == 8
    assert first["recstream_events_dead_lettered_total{reason=schema}"] == 2
    assert first["recstream_batch_failures_total"] == 1
    assert first["recstream_consumer_lag{partition=0,topic=behaviour}"] == 5
    assert first["recstream_model_version{role=live,version=deep-3}"] == 1
    assert first["recstream_prequential_recall_at_10"] == 0.2
    assert first["recstream_learn_batch_seconds_count"] == 1 and first["recstream_request_seconds_count"] == 1
    assert "recstream_drift_share" not in first  # no report yet: absent, not a misleading 0
    assert "recstream_broker_up" not in first  # not probed yet
    state.consumed, state.drift_share, state.drift_detected, state.drift_report_id = 25, 0.5, True, 7
    state.broker_up, state.broker_failed_probes = False, 3
    second = parse(m.render().decode())
    assert second["recstream_events_consumed_total"] == 25
    assert second["recstream_drift_share"] == 0.5 and second["recstream_drift_detected"] == 1
    assert second["recstream_drift_report_id"] == 7
    assert second["recstream_broker_up"] == 0 and second["recstream_broker_failed_probes_total"] == 3


def test_two_workers_in_one_process_keep_separate_registries():
    a, b = WorkerMetrics(lambda: Snapshot(consumed=1)), WorkerMetrics(lambda: Snapshot(consumed=2))
    assert parse(a.render().decode())["recstream_events_consumed_total"] == 1
    assert parse(b.render().decode())["recstream_events_consumed_total"] == 2
