"""Catalogue files: MovieLens `movies.csv` (movieId,title,genres) as items whose genres are their categories."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from recstream.models.catalogue.items import ItemRecord
from recstream.models.errors import DataFileError

NO_GENRES = "(no genres listed)"


def read_movielens_items(path: str | Path) -> Iterator[ItemRecord]:
    """One available item per movie: id = movieId (as the ratings files name items), categories = genres,
    attributes = {"title"}."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"movieId", "title", "genres"} - set(reader.fieldnames or ())
            if missing:
                raise DataFileError(f"{path}: expected columns movieId,title,genres (missing {', '.join(sorted(missing))})")
            for n, row in enumerate(reader, start=2):
                if not row["movieId"]:
                    raise DataFileError(f"{path}:{n}: empty movieId")
                genres = tuple(g for g in (row["genres"] or "").split("|") if g and g != NO_GENRES)
                yield ItemRecord(row["movieId"], True, genres, None, {"title": row["title"]})
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read ({exc.strerror})") from None
