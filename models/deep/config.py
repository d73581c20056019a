"""The deep model's knobs (no torch here: settings import this)."""

from __future__ import annotations

from dataclasses import dataclass

PAD = 0  # row 0 of the embeddings: padding and unknown ids (here, so serving can map rows without torch)


@dataclass(frozen=True)
class DeepConfig:
    dim: int = 64
    #: How many of a user's most recent items make up their history.
    history: int = 20
    epochs: int = 6
    batch_size: int = 1024
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    seed: int = 0
    #: "auto" = CUDA when present, else CPU.
    device: str = "auto"
    #: 0: full softmax over every item (cost ∝ items × interactions). N > 0: sampled softmax against N shared
    #: negatives a batch, drawn half uniformly and half by how often an item is a target, with the usual
    #: log-probability correction; the item tables then learn only the rows a batch touches (sparse updates).
    #: For catalogues where a full softmax does not fit the retrain window (README, "A million items").
    sampled_negatives: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "history", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"deep model {name} must be >= 1, got {getattr(self, name)}")
        if self.epochs < 0:
            raise ValueError(f"deep model epochs must be >= 0, got {self.epochs}")
        if self.sampled_negatives < 0:
            raise ValueError(f"deep model sampled_negatives must be >= 0 (0 = full softmax), got "
                             f"{self.sampled_negatives}")
        if self.sampled_negatives and self.weight_decay:
            raise ValueError("deep model weight_decay needs the full softmax (sampled_negatives = 0): the sparse "
                             "updates of sampled training have no weight decay")
        if self.learning_rate <= 0:
            raise ValueError(f"deep model learning_rate must be > 0, got {self.learning_rate}")
