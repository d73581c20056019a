"""Served quality: the list users get (online blended with the live deep version), judged test-then-learn on a
stream, against online alone, deep alone, popularity and the EASE reference, on the same probes.

    python bench/served.py FILE [--format auto] [--limit N] [--workers 1,2,4] [--retrain-every N] [--no-deep]
    python bench/served.py --synthetic [--sessions] [--events 60000] [--shift-at N] [--seed N]

FILE is anything `recstream produce` reads (MovieLens u.data / ratings.csv / ratings.dat, CSV with named columns).
Prints one JSON object; progress on stderr. See models/evaluation/served.py for the protocol.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

from tqdm import tqdm

from recstream.models.catalogue.policy import NewItemPolicy
from recstream.models.data.files import read_interactions
from recstream.models.data.synthetic import SyntheticSpec, generate
from recstream.models.errors import RecstreamError
from recstream.models.evaluation.served import ServedConfig, replay_served
from recstream.models.serving.mix import RetrievalConfig, ServedMix


def load(args: argparse.Namespace) -> tuple[str, list, int | None]:
    if args.synthetic == (args.file is not None):
        sys.exit("give either FILE or --synthetic")
    if args.synthetic:
        spec = SyntheticSpec(events=args.events, seed=args.seed, shift_at=args.shift_at, sessions=args.sessions)
        name = f"synthetic({'sessions, ' if args.sessions else ''}events={args.events}, seed={args.seed}, " \
               f"shift_at={args.shift_at})"
        return name, list(generate(spec)), args.shift_at
    return args.file, read_interactions(args.file, args.format, args.limit), None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?")
    ap.add_argument("--format", default="auto", choices=["auto", "udata", "dat", "csv"])
    ap.add_argument("--limit", type=int, help="read at most this many events of FILE")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--shift-at", type=int)
    ap.add_argument("--sessions", action="store_true", help="short anonymous sessions, next item follows the last")
    ap.add_argument("--workers", default="1", help="comma-separated worker counts, e.g. 1,2,4")
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--retrain-every", type=int, help="events between deep retrains (default: 10%% of the stream)")
    ap.add_argument("--no-deep", action="store_true", help="serve the online model alone (no retrains)")
    ap.add_argument("--no-share-items", action="store_true", help="each worker learns items from its own "
                    "partitions only (RECSTREAM_SHARE_ITEMS=false)")
    ap.add_argument("--chunk", type=int, default=10)
    ap.add_argument("--cooccurrence-half-life", type=float, help="positives over which companion counts halve "
                    "(RECSTREAM_ONLINE_COOCCURRENCE_HALF_LIFE; default: never)")
    ap.add_argument("--shift-fade", type=float, help="multiply companion counts by this when a taste shift is "
                    "noticed (RECSTREAM_ONLINE_COOCCURRENCE_SHIFT_FADE)")
    ap.add_argument("--new-item-share", type=float, default=0.0, help="slots of a personal list for new items "
                    "(RECSTREAM_NEW_ITEM_SHARE; each item is new from its first event)")
    ap.add_argument("--new-item-age-s", type=float, default=NewItemPolicy.age_s)
    ap.add_argument("--new-item-max-events", type=float, default=NewItemPolicy.max_events)
    ap.add_argument("--deep-weight", type=float, help="serve this fixed deep share (with --successor-weight) "
                    "instead of tuning the mix from the stream as a worker does (RECSTREAM_DEEP_WEIGHT_TUNED=false)")
    ap.add_argument("--successor-weight", type=float, help="the successor weight served with a fixed "
                    "--deep-weight (default: the worker's)")
    ap.add_argument("--approximate", action="store_true", help="serve from candidates (the index a large "
                    "catalogue is served from) whatever the catalogue's size, to compare with the exact list")
    ap.add_argument("--smoke", action="store_true", help="a tiny run in seconds (the test suite runs it)")
    args = ap.parse_args()
    if args.smoke:  # every part of the run (two workers, a retrain, the references) on a stream of seconds
        args.synthetic, args.file, args.events, args.workers = True, None, 3_000, "1,2"
        args.retrain_every = args.retrain_every or 1_500
    try:
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        workers = []
    if not workers or min(workers) < 1:
        ap.error(f"--workers takes worker counts >= 1, e.g. 1,2,4; got {args.workers!r}")
    try:
        name, events, shift_at = load(args)
    except (RecstreamError, ValueError) as exc:  # a file we cannot read, a generator setting out of range
        ap.error(str(exc))
    cfg = ServedConfig(chunk=args.chunk, retrain_every=args.retrain_every, partitions=args.partitions,
                       share_items=not args.no_share_items)
    recipe = cfg.recipe
    if args.deep_weight is not None:
        start = ServedMix(ServedMix.successors if args.successor_weight is None else args.successor_weight,
                          args.deep_weight)
        recipe = replace(recipe, start=start, tuned=False)
    elif args.successor_weight is not None:
        ap.error("--successor-weight goes with --deep-weight (a fixed mix)")
    if args.no_deep:
        cfg = replace(cfg, retrain=None)
    if args.cooccurrence_half_life:
        cfg = replace(cfg, online=replace(cfg.online, cooccurrence_half_life=args.cooccurrence_half_life))
    if args.shift_fade is not None:
        cfg = replace(cfg, online=replace(cfg.online, cooccurrence_shift_fade=args.shift_fade))
    if args.new_item_share:
        recipe = replace(recipe, new_items=NewItemPolicy(args.new_item_share, args.new_item_age_s,
                                                         args.new_item_max_events))
    if args.approximate:  # built when due, within the replay: what is served does not depend on timing
        recipe = replace(recipe, retrieval=RetrievalConfig(exact_below=0, background=False))
    cfg = replace(cfg, recipe=recipe)
    t = time.perf_counter()
    runs = {}
    for n in workers:
        with tqdm(total=len(events), desc=f"{n} worker(s)", unit="ev", file=sys.stderr) as bar:
            runs[n] = replay_served(events, replace(cfg, workers=n), shift_at, progress=bar.update)
    first = runs[min(runs)]
    out = {"bench": "served", "file": name, "events": len(events), "approximate": args.approximate, **first}
    if len(runs) > 1:
        base = first["recall_at_10"]["served"]["value"]
        out["scale_out"] = {str(n): {"served_recall_at_10": r["recall_at_10"]["served"]["value"],
                                     "ci95": r["recall_at_10"]["served"]["ci95"],
                                     "over_one_worker": round(r["recall_at_10"]["served"]["value"] / base, 3)
                                     if base else None} for n, r in runs.items()}
    out["seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
