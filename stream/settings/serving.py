"""How a worker answers: its HTTP API, routing between workers, the served blend, canaries, operator access."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from recstream.models.catalogue.policy import NewItemPolicy
from recstream.models.serving.mix import RecipeConfig, RetrievalConfig, ServedMix
from recstream.stream.settings.base import Component

N, M, R, A = NewItemPolicy, ServedMix(), RecipeConfig, RetrievalConfig
#: a token shorter than this is refused at start: it could be guessed
MIN_TOKEN_CHARS = 16


class ServingSettings(Component):
    web_host: str = Field("127.0.0.1", description="address the HTTP API binds")
    web_port: int = Field(6066, ge=0, le=65535, description="port of the HTTP API")
    # Scale-out: several workers in one group forward each request to the worker owning the user's partition.
    advertised_url: str | None = Field(None, description="base URL other workers reach this worker's API at "
                                                         "(default http://<host>:<web_port>)")
    worker_heartbeat_s: float = Field(2.0, gt=0, description="how often a worker refreshes the worker directory")
    worker_stale_s: float = Field(10.0, gt=0, description="a worker silent this long is taken as gone")
    forward_timeout_s: float = Field(2.0, gt=0, description="longest wait for the owning worker to answer a "
                                                            "forwarded request; after it, this worker answers")
    deep_weight: float = Field(M.deep, ge=0, le=1, description="share of the deep model in the served blend (the "
                                                                "start, when tuned)")
    successor_weight: float = Field(M.successors, ge=0, description="weight of what came right after the user's "
                                    "last item, against the online scores (the start, when tuned)")
    deep_weight_tuned: bool = Field(R.tuned, description="choose the served mix (deep share, successor weight) "
                                    "from what users pick next")
    served_judge_sample: float = Field(R.judge_sample, ge=0, le=1, description="share of events judged against "
                                       "the list served (live served Recall@10, tuning)")
    served_judge_max_per_s: float = Field(R.judge_max_per_s, gt=0, description="most events judged a second")
    # Measured with bench/closed_loop.py (see README, "Learning from feedback"): off by default.
    explore_share: float = Field(R.explore_share, ge=0, le=1, description="share of the slots of a personal list "
                                 "given to items drawn from just below the cut (exploration)")
    new_item_share: float = Field(N.share, ge=0, le=1, description="share of the slots of a personal list given "
                                  "to new items (catalogue created_at recent, little data)")
    new_item_age_s: float = Field(N.age_s, gt=0, description="an item is new while its created_at is this close "
                                  "to the newest event time")
    new_item_max_events: float = Field(N.max_events, ge=0, description="an item is new while it has at most this "
                                       "many (decayed) positive events")
    # Large catalogues (README, "A million items"): candidates from an index, scored exactly.
    retrieval_exact_below: int = Field(A.exact_below, ge=0, description="catalogues with fewer items score every "
                                       "item for each request; larger ones score candidates from an index")
    retrieval_cells_per_sqrt: float = Field(A.cells_per_sqrt, gt=0, description="index cells, this many times "
                                            "the square root of the item count")
    retrieval_probe: int = Field(A.probe, ge=1, description="index cells a request takes candidates from")
    retrieval_rebuild_events_per_item: float = Field(A.rebuild_events_per_item, gt=0, description="rebuild the "
                                                     "index (in a thread) after this many learned events per item")
    model_poll_s: float = Field(0.25, gt=0, description="how often workers check the registry for a new version")
    operator_token: SecretStr | None = Field(
        None, description="bearer token for mutating HTTP endpoints (promote, rollback, retrain); unset = refused")
    # RECSTREAM_METRICS_TOKEN_REQUIRED is the older name (it guarded /metrics and /drift/* only).
    read_token_required: bool = Field(
        False, validation_alias=AliasChoices("read_token_required", "RECSTREAM_READ_TOKEN_REQUIRED",
                                             "RECSTREAM_METRICS_TOKEN_REQUIRED"),
        description="operator read endpoints (GET /metrics, /drift/*, /models*, the console's pages, explain=true) "
                    "need the read token or the operator token")
    read_token: SecretStr | None = Field(
        None, description="bearer token that reads (metrics, drift, models, console pages) but changes nothing: "
                          "give it to Prometheus and dashboards, not the operator token")
    auth_max_failures: int = Field(10, ge=1, description="wrong tokens from one client address within a minute "
                                   "before it is locked out (429, right token or not)")
    auth_lockout_s: float = Field(60.0, ge=0, description="how long a locked-out client is refused")
    producer_token: SecretStr | None = Field(
        None, description="token that may POST /events (behaviour and feedback over HTTP) and nothing else; a web "
                          "page carries it, so it is public to the page's readers; unset = POST /events refused")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        [], description="web origins (https://shop.example) whose pages may call the serving API and POST /events "
                        "from a browser; comma-separated or a JSON list; * for any")
    http_events_recent: int = Field(100_000, ge=0, description="event ids POST /events remembers, so a retried "
                                    "batch is not produced twice")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, v: Any) -> Any:
        if isinstance(v, str):  # NoDecode: the environment's text, a JSON list or comma-separated
            v = json.loads(v) if v.strip().startswith("[") else v.split(",")
        return [str(o).strip().rstrip("/") for o in v if str(o).strip()] if isinstance(v, list) else v

    @field_validator("operator_token", "read_token", "producer_token")
    @classmethod
    def _long_enough(cls, v: SecretStr | None, info: Any) -> SecretStr | None:
        if v is not None and len(v.get_secret_value().strip()) < MIN_TOKEN_CHARS:
            raise ValueError(f"{cls.env_name(info.field_name or '')} must be at least {MIN_TOKEN_CHARS} characters "
                             "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'` makes one)")
        return v

    def new_items(self) -> NewItemPolicy:
        return NewItemPolicy(self.new_item_share, self.new_item_age_s, self.new_item_max_events)

    def recipe(self) -> RecipeConfig:
        return RecipeConfig(ServedMix(self.successor_weight, self.deep_weight), self.deep_weight_tuned,
                            self.explore_share, self.new_items(), self.served_judge_sample,
                            self.served_judge_max_per_s, self.retrieval())

    def retrieval(self) -> RetrievalConfig:
        return RetrievalConfig(self.retrieval_exact_below, self.retrieval_cells_per_sqrt, self.retrieval_probe,
                               self.retrieval_rebuild_events_per_item)


class CanarySettings(Component):
    model_config = Component.model_config | {"env_prefix": "RECSTREAM_CANARY_"}

    share: float = Field(0.0, ge=0, le=1, description="share of users (sticky) served the canary version")
    auto: bool = Field(False, description="the scheduler promotes/rolls back the canary on click rates")
    min_impressions: int = Field(1000, ge=1, description="impressions per version before a canary decision")


class ConsoleSettings(Component):
    """What the operator console keeps, in the database every worker shares (README: "Operator console")."""

    model_config = Component.model_config | {"env_prefix": "RECSTREAM_CONSOLE_"}

    sample_s: float = Field(10.0, gt=0, description="how often each worker records a sample for the charts")
    history_s: float = Field(7 * 86_400.0, gt=0, description="how long samples are kept")
    dead_letters_kept: int = Field(100_000, ge=1, description="newest dead letters kept as rows for the console "
                                   "(the dead-letter topic keeps them all)")
