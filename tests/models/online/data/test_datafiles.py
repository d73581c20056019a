import pytest

from recstream.models.data.files import read_interactions
from recstream.models.errors import DataFileError


def test_movielens_udata_sorted_by_time(tmp_path):
    f = tmp_path / "u.data"
    f.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n")
    rows = read_interactions(f)
    assert [r.user_id for r in rows] == ["22", "196", "186"]
    assert rows[0].type == "rating" and rows[0].value == 1.0 and rows[0].event_id == "u-3"


def test_movielens_dat(tmp_path):
    f = tmp_path / "ratings.dat"
    f.write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    assert [r.item_id for r in read_interactions(f)] == ["1193", "661"]


def test_csv_with_named_columns_and_types(tmp_path):
    f = tmp_path / "shop.csv"
    f.write_text("user_id,item_id,type,ts,event_id\nu1,i1,view,1700000002,a\nu2,i9,purchase,1700000001,b\n")
    rows = read_interactions(f)
    assert [(r.event_id, r.type) for r in rows] == [("b", "purchase"), ("a", "view")]


def test_movielens_latest_csv_header(tmp_path):
    f = tmp_path / "ratings.csv"
    f.write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n")
    (r,) = read_interactions(f)
    assert (r.user_id, r.item_id, r.type, r.value) == ("1", "1", "rating", 4.0)


@pytest.mark.parametrize("content,match", [
    ("user,thing,ts\n1,2,3\n", "no item column"),
    ("user_id,item_id,type,ts\nu,i,teleport,1\n", "unknown event type"),
    ("user_id,item_id,ts\nu,i,yesterday\n", "unreadable row"),
])
def test_bad_files_say_what_is_wrong(tmp_path, content, match):
    f = tmp_path / "bad.csv"
    f.write_text(content)
    with pytest.raises(DataFileError, match=match):
        read_interactions(f)


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_interactions(tmp_path / "nope.csv")
