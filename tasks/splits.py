"""Split hygiene before a head is fit: no test item seen in training, enough items per class, one dataset unless asked.

A head scored on its own training data, or on a class it never saw, reports a number that means nothing; these
checks run before fitting so such a run fails at the edge (or, with ``allow_small``, is kept off ``@champion``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MIN_TEST = 4  # test items below which one error moves the score by more than 25 points
MIN_TRAIN_PER_CLASS = 2  # training items a class needs to be learnt at all


class SplitError(ValueError):
    """The split cannot give an honest score; the message names what is missing."""


@dataclass
class SplitReport:
    """What the head was fit and scored on, logged with the run and printed by the CLI."""

    n_train: int
    n_test: int
    train_counts: dict[str, int] = field(default_factory=dict)
    test_counts: dict[str, int] = field(default_factory=dict)
    leaked: list[str] = field(default_factory=list)  # test ids whose content is in the training split
    problems: list[str] = field(default_factory=list)  # checks that failed (kept only with allow_small)

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n_train": self.n_train, "n_test": self.n_test, "n_leaked_dropped": len(self.leaked)}
        if self.train_counts:
            out["train_class_counts"] = _counts(self.train_counts)
            out["test_class_counts"] = _counts(self.test_counts)
        out["split_checks"] = "passed" if self.passed else "; ".join(self.problems)[:500]
        return out


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))[:500]


def one_dataset(datasets: list[str], asked: str | None) -> None:
    """Training over several datasets of one table must be asked for by naming them."""
    present = sorted(set(datasets))
    if asked is None and len(present) > 1:
        raise SplitError(
            f"the table holds {len(present)} datasets ({', '.join(present[:6])}): pass --dataset NAME, "
            f"or --dataset {','.join(present[:2])} to train over several"
        )


def leak_mask(hashes: list[str], train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Test rows whose content hash is also in the training rows (same file under another id or dataset)."""
    seen = {h for h, t in zip(hashes, train) if t}
    return test & np.array([h in seen for h in hashes], dtype=bool)


def check_split(
    y: np.ndarray, train: np.ndarray, test: np.ndarray, task: str, leaked: list[str], allow_small: bool
) -> SplitReport:
    """Counts per split (and class); raise SplitError on a split that cannot score honestly unless allowed."""
    report = SplitReport(int(train.sum()), int(test.sum()), leaked=leaked)
    if not report.n_test:
        raise SplitError(f"no test item left: all {len(leaked)} are copies of training items (same content)")
    if task == "classification":
        report.train_counts = dict(Counter(str(v) for v in y[train]))
        report.test_counts = dict(Counter(str(v) for v in y[test]))
        unseen = sorted(set(report.test_counts) - set(report.train_counts))
        if unseen:
            report.problems.append(f"class(es) {', '.join(unseen[:5])} in test but absent from training")
        thin = sorted(c for c, n in report.train_counts.items() if n < MIN_TRAIN_PER_CLASS)
        if thin:
            report.problems.append(f"class(es) {', '.join(thin[:5])} with < {MIN_TRAIN_PER_CLASS} training items")
    if report.n_test < MIN_TEST:
        report.problems.append(f"{report.n_test} test item(s), fewer than {MIN_TEST}")
    if report.problems and not allow_small:
        raise SplitError(
            f"split too small to score honestly ({'; '.join(report.problems)}; train {report.n_train}, "
            f"test {report.n_test}): add data or pass --allow-small (the model is then not made @champion)"
        )
    return report
