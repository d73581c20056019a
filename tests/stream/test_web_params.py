from recstream.stream.web import _bool_param, _int_param


def test_int_params():
    assert _int_param(None, "k", 10, 1, 200) == 10
    assert _int_param("5", "k", 10, 1, 200) == 5
    assert "between 1 and 200, got 'ten'" in _int_param("ten", "k", 10, 1, 200)
    assert "got 0" in _int_param("0", "k", 10, 1, 200)


def test_bool_params():
    assert _bool_param("false", "exclude_seen", True) is False
    assert "true or false" in _bool_param("maybe", "exclude_seen", True)


def test_an_empty_operator_token_means_none_configured(monkeypatch):
    from recstream.stream.settings import Settings

    monkeypatch.setenv("RECSTREAM_OPERATOR_TOKEN", "")
    monkeypatch.setenv("RECSTREAM_ARTEFACT_KEY", " ")
    s = Settings()
    assert s.operator_token is None and s.artefact_key_bytes is None
    monkeypatch.setenv("RECSTREAM_RETRAIN_CRON", "every day")
    import pytest
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="crontab"):
        Settings()


def test_cooccurrence_settings_reach_the_online_learner_and_bad_ones_are_named(monkeypatch):
    import pytest
    from pydantic import ValidationError

    from recstream.stream.settings import Settings

    monkeypatch.setenv("RECSTREAM_ONLINE_COOCCURRENCE_WEIGHT", "0")
    monkeypatch.setenv("RECSTREAM_ONLINE_COOCCURRENCE_WINDOW", "4")
    cfg = Settings().online_config()
    assert cfg.cooccurrence_weight == 0 and cfg.cooccurrence_window == 4
    monkeypatch.setenv("RECSTREAM_ONLINE_COOCCURRENCE_WINDOW", "0")
    with pytest.raises(ValidationError, match="online_cooccurrence_window"):
        Settings()
