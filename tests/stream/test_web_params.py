import pytest

from recstream.stream.web.params import BadRequest, bool_param, int_param


def test_int_params():
    assert int_param(None, "k", 10, 1, 200) == 10
    assert int_param("5", "k", 10, 1, 200) == 5
    with pytest.raises(BadRequest, match="between 1 and 200, got 'ten'"):
        int_param("ten", "k", 10, 1, 200)
    with pytest.raises(BadRequest, match="got 0"):
        int_param("0", "k", 10, 1, 200)


def test_bool_params():
    assert bool_param("false", "exclude_seen", True) is False
    with pytest.raises(BadRequest, match="true or false"):
        bool_param("maybe", "exclude_seen", True)
