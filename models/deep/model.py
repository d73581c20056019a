"""The deep recommender: a next-item model over each user's recent items (PyTorch).

A user is represented by the items they interacted with most recently, not by a learned per-user embedding, so
users who arrived after the last training are served as soon as they have one event, and a user's new events
change their recommendations without retraining. Item ids unseen at training are skipped in the history and left
to the online model in the ranking.

    user vector  u = m + MLP(m),   m = Σ_t softmax(w)_t · E_in[item_t]   (attention over positions, padding masked)
    scores       s = E_out · u + b

Trained with softmax cross-entropy on (history → next item) pairs in event-time order: over every item, or (for
large catalogues, `DeepConfig.sampled_negatives`) over the target and shared sampled negatives, with the item
tables updated sparsely (`SampledSoftmax`). Serving runs in NumPy on a copy of the weights: one small MLP and one
mat-vec, no torch on the request path.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from recstream.models.deep.config import PAD, DeepConfig

log = logging.getLogger("recstream.deep")


class NextItemNet(nn.Module):
    def __init__(self, n_rows: int, dim: int, history: int, sparse: bool = False) -> None:
        super().__init__()
        # sparse: gradients of the item tables hold only the rows a batch used (sampled training)
        self.item_in = nn.Embedding(n_rows, dim, padding_idx=PAD, sparse=sparse)
        self.position = nn.Parameter(torch.zeros(history))
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.item_out = nn.Embedding(n_rows, dim, sparse=sparse)
        self.out_bias = nn.Parameter(torch.zeros(n_rows))
        nn.init.normal_(self.item_in.weight, std=0.1)
        nn.init.normal_(self.item_out.weight, std=0.1)
        with torch.no_grad():
            self.item_in.weight[PAD].zero_()

    def user_vectors(self, hist: torch.Tensor) -> torch.Tensor:
        """hist: (B, L) item rows, oldest first, PAD-filled on the left."""
        mask = hist != PAD
        w = self.position.expand_as(hist).masked_fill(~mask, -1e9)
        w = torch.softmax(w, dim=1) * mask.any(dim=1, keepdim=True)
        m = torch.einsum("bl,bld->bd", w, self.item_in(hist))
        return m + self.mlp(m)

    def forward(self, hist: torch.Tensor) -> torch.Tensor:
        logits = self.user_vectors(hist) @ self.item_out.weight.T + self.out_bias
        logits[:, PAD] = -1e9
        return logits


class SampledSoftmax:
    """The loss of a batch against its targets and `n` shared negatives. Negatives are drawn from q = half uniform
    over the items, half by how often each is a target (so items never a target are still pushed down, as a full
    softmax would); every logit has log(n·q) subtracted (Jean et al. 2015; Yi et al. 2019), and a negative that
    is the row's own target is masked."""

    def __init__(self, target: np.ndarray, n_rows: int, n: int, generator: torch.Generator) -> None:
        counts = np.bincount(target, minlength=n_rows).astype(np.float64)
        counts[PAD] = 0.0
        uniform = np.full(n_rows, 1.0 / max(n_rows - 1, 1))
        uniform[PAD] = 0.0
        q = 0.5 * uniform + 0.5 * counts / max(counts.sum(), 1.0)
        self.q = torch.from_numpy(q / q.sum())
        self.log_nq = torch.log(n * self.q.clamp_min(1e-30)).float()
        self.n, self.generator = n, generator

    def __call__(self, net: NextItemNet, hist: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        u = net.user_vectors(hist)
        neg = torch.multinomial(self.q, self.n, replacement=True, generator=self.generator).to(u.device)
        pos = (u * net.item_out(target)).sum(1) + net.out_bias[target] - self.log_nq[target].to(u.device)
        logits = u @ net.item_out(neg).T + net.out_bias[neg] - self.log_nq[neg].to(u.device)
        logits = logits.masked_fill(neg[None, :] == target[:, None], float("-inf"))
        logits = torch.cat([pos[:, None], logits], dim=1)
        return nn.functional.cross_entropy(logits, torch.zeros(len(target), dtype=torch.long, device=u.device))


def _optimisers(net: NextItemNet, cfg: DeepConfig) -> list[torch.optim.Optimizer]:
    """Adam; with sampled training, SparseAdam for the item tables (Adam's dense state would touch every row)."""
    if not cfg.sampled_negatives:
        return [torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)]
    tables = [net.item_in.weight, net.item_out.weight]
    rest = [p for p in net.parameters() if all(p is not t for t in tables)]
    return [torch.optim.SparseAdam(tables, lr=cfg.learning_rate), torch.optim.Adam(rest, lr=cfg.learning_rate)]


def history_vector(rows: Sequence[int], embed: Callable[[list[int]], np.ndarray], position: np.ndarray,
                   w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> np.ndarray | None:
    """NextItemNet.user_vectors for one history, in NumPy: attention over positions, then the residual MLP.
    `embed` returns the input embeddings of item rows (float, or dequantised int8). None: no known item."""
    rows = [r for r in rows if r != PAD][-len(position):]
    if not rows:
        return None
    pos = position[len(position) - len(rows):]
    w = np.exp(pos - pos.max())
    w /= w.sum()
    m = w @ embed(rows)
    h = np.maximum(w1 @ m + b1, 0.0)
    return m + w2 @ h + b2


@dataclass
class NumpyScorer:
    """The trained weights as NumPy arrays, for serving: ~0.1 ms a user over 10k items, no torch involved."""

    item_in: np.ndarray
    position: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    item_out: np.ndarray
    out_bias: np.ndarray

    def user_vector(self, rows: Sequence[int]) -> np.ndarray | None:
        return history_vector(rows, lambda r: self.item_in[r], self.position, self.w1, self.b1, self.w2, self.b2)

    def scores(self, rows: Sequence[int]) -> np.ndarray | None:
        """Scores over every item row (row 0 = PAD at -inf), or None when the history has no known item."""
        u = self.user_vector(rows)
        if u is None:
            return None
        s = self.item_out @ u + self.out_bias
        s[PAD] = -np.inf
        return s


@dataclass
class DeepModel:
    """A trained next-item model with its item vocabulary (row r ↔ items[r - 1])."""

    config: DeepConfig
    items: list[str]
    net: NextItemNet
    history_log: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.row_of = {item: r + 1 for r, item in enumerate(self.items)}
        self._scorer: NumpyScorer | None = None

    @classmethod
    def new(cls, config: DeepConfig, items: Sequence[str]) -> DeepModel:
        torch.manual_seed(config.seed)
        return cls(config, list(items), NextItemNet(len(items) + 1, config.dim, config.history,
                                                    sparse=config.sampled_negatives > 0))

    @classmethod
    def warm_start(cls, parent: DeepModel, items: Sequence[str], config: DeepConfig | None = None) -> DeepModel:
        """A model over `items` that starts from `parent`'s weights: known items keep their embeddings, new items
        start fresh (random input/output embeddings, bias at the parent's mean), shared layers are copied."""
        cfg = config or parent.config
        if cfg.dim != parent.config.dim or cfg.history != parent.config.history:
            raise ValueError(f"cannot warm-start a dim={cfg.dim}/history={cfg.history} model from a "
                             f"dim={parent.config.dim}/history={parent.config.history} one")
        child = cls.new(cfg, items)
        old_rows = [parent.row_of.get(item, PAD) for item in child.items]
        known = torch.tensor([i + 1 for i, r in enumerate(old_rows) if r != PAD], dtype=torch.long)
        src = torch.tensor([r for r in old_rows if r != PAD], dtype=torch.long)
        p, c = parent.net, child.net
        with torch.no_grad():
            c.position.copy_(p.position)
            c.mlp.load_state_dict(p.mlp.state_dict())
            c.out_bias.fill_(float(p.out_bias[1:].mean()) if len(parent.items) else 0.0)
            if len(known):
                c.item_in.weight[known] = p.item_in.weight[src]
                c.item_out.weight[known] = p.item_out.weight[src]
                c.out_bias[known] = p.out_bias[src]
        return child

    def rows(self, item_ids: Sequence[str]) -> list[int]:
        return [self.row_of.get(i, PAD) for i in item_ids]

    # ---- training ----------------------------------------------------------------------------------------
    def fit(self, hist: np.ndarray, target: np.ndarray, epochs: int | None = None, progress: bool = False,
            should_stop: Callable[[], bool] | None = None) -> bool:
        """Train on (history rows, next-item row) pairs; each epoch's mean loss is logged and kept in history_log.

        `should_stop` is asked before every batch (a time budget); returns False when it cut training short."""
        cfg = self.config
        epochs = cfg.epochs if epochs is None else epochs
        device = _device(cfg.device)
        net = self.net.to(device)
        opts = _optimisers(net, cfg)
        # rows as stored (int32 where the caller keeps them so: 10M histories of 20 are 0.8 GB, not 1.6), made
        # int64 a batch at a time
        h_all, t_all = torch.from_numpy(np.ascontiguousarray(hist)), torch.from_numpy(np.ascontiguousarray(target))
        gen = torch.Generator().manual_seed(cfg.seed + len(self.history_log))
        sampled = (SampledSoftmax(target, len(self.items) + 1, cfg.sampled_negatives, gen)
                   if cfg.sampled_negatives else None)
        if sampled is not None and _world() > 1:
            raise ValueError("training on several processes needs the full softmax (sampled_negatives = 0): "
                             "sparse gradients are not summed across processes")
        n = len(t_all)
        steps = math.ceil(n / cfg.batch_size)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=epochs * steps, unit="batch", desc="training", leave=False)
        net.train()
        completed = True
        for epoch in range(epochs):
            order = torch.randperm(n, generator=gen)
            total, t0 = 0.0, time.perf_counter()
            for s in range(steps):
                if should_stop is not None and _any(should_stop()):
                    completed = False
                    break
                batch = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
                idx = _share(batch)
                h, t = h_all[idx].long().to(device), t_all[idx].long().to(device)
                total += _step(net, opts, h, t, len(batch), sampled) * len(batch)
                if bar is not None:
                    bar.update(1)
            if not completed:
                break
            mean = total / max(n, 1)
            self.history_log.append({"epoch": len(self.history_log) + 1, "loss": mean,
                                     "seconds": time.perf_counter() - t0})
            log.info("epoch %d/%d: loss %.4f (%.1fs)", epoch + 1, epochs, mean, time.perf_counter() - t0)
        if bar is not None:
            bar.close()
        net.eval()
        self.net = net.cpu()
        self._scorer = None
        return completed

    # ---- scoring -----------------------------------------------------------------------------------------
    @property
    def scorer(self) -> NumpyScorer:
        if self._scorer is None:
            n = self.net
            f = lambda t: t.detach().cpu().numpy().astype(np.float32)
            self._scorer = NumpyScorer(
                item_in=f(n.item_in.weight), position=f(n.position), w1=f(n.mlp[0].weight), b1=f(n.mlp[0].bias),
                w2=f(n.mlp[2].weight), b2=f(n.mlp[2].bias), item_out=f(n.item_out.weight), out_bias=f(n.out_bias))
        return self._scorer

    @torch.no_grad()
    def score_batch(self, hist: np.ndarray) -> np.ndarray:
        """Scores (B, n_items + 1) for a batch of PAD-padded histories; column 0 is PAD."""
        self.net.eval()
        return self.net(torch.from_numpy(hist.astype(np.int64))).numpy()

    # ---- persistence -------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save({"format": 1, "config": asdict(self.config), "items": self.items,
                    "state": self.net.state_dict(), "history_log": self.history_log}, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> DeepModel:
        # weights_only: an artefact is data, never code (torch.load would otherwise unpickle anything).
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if blob.get("format") != 1:
            raise ValueError(f"unknown deep model artefact format {blob.get('format')!r}")
        cfg = DeepConfig(**blob["config"])
        model = cls(cfg, list(blob["items"]), NextItemNet(len(blob["items"]) + 1, cfg.dim, cfg.history,
                                                          sparse=cfg.sampled_negatives > 0),
                    list(blob.get("history_log", [])))
        model.net.load_state_dict(blob["state"])
        model.net.eval()
        return model


def _step(net: NextItemNet, opts: list[torch.optim.Optimizer], hist: torch.Tensor, target: torch.Tensor,
          batch: int, sampled: SampledSoftmax | None) -> float:
    """One optimiser step on this process's share of a batch of `batch` examples; the batch's mean loss."""
    if sampled is not None:
        loss = sampled(net, hist, target)
    else:  # summed here and divided by the whole batch: the processes' shares add up to one step
        loss = nn.functional.cross_entropy(net(hist), target, reduction="sum") / batch
    for opt in opts:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    _sum_gradients(net)
    for opt in opts:
        opt.step()
    return _summed(loss.detach())


# ---- several processes (torch.distributed; models/deep/distributed.py starts them) --------------------------
def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _share(batch: torch.Tensor) -> torch.Tensor:
    """This process's share of a batch: every world-th example of it (all processes draw the same permutation),
    so the processes' summed gradients are the gradient one process would take on the whole batch."""
    world = _world()
    return batch if world == 1 else batch[dist.get_rank()::world]


def _sum_gradients(net: nn.Module) -> None:
    if _world() == 1:
        return
    for p in net.parameters():  # the same order everywhere; a share with no examples sends zeros
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)


def _summed(value: torch.Tensor) -> float:
    if _world() > 1:
        dist.all_reduce(value)
    return float(value)


def _any(flag: bool) -> bool:
    """Whether any process says so (a time budget stops every process at the same step, or none)."""
    if _world() == 1:
        return flag
    t = torch.tensor([float(flag)])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
