"""The HeightCeleb recipe on stored speaker vectors: per-speaker means, a sex classifier, one
height regressor per sex. Plain sklearn-style; no tracking or storage here."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SEXES = ("f", "m")
MIN_SPEAKERS_PER_SEX = 3  # below this a sex shares the pooled regressor


def speaker_means(X: np.ndarray, groups: Any) -> tuple[np.ndarray, np.ndarray]:
    """Average utterance vectors per group; returns (sorted group ids, (n_groups, d) means)."""
    X = np.asarray(X, dtype=np.float64)
    keys, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    sums = np.zeros((len(keys), X.shape[1]))
    np.add.at(sums, inverse, X)
    return keys, sums / np.bincount(inverse)[:, None]


def speaker_labels(groups: Any, height: Any, sex: Any) -> pd.DataFrame:
    """One row per group: its height (first non-NaN) and sex ("m"/"f"/None), sorted by group."""
    frame = pd.DataFrame(
        {
            "group": np.asarray(groups).astype(str),
            "height": pd.to_numeric(pd.Series(np.asarray(height, dtype=object)), errors="coerce"),
            "sex": [_norm_sex(s) for s in np.asarray(sex, dtype=object)],
        }
    )
    return frame.groupby("group", sort=True).agg(height=("height", "first"), sex=("sex", "first")).reset_index()


def _norm_sex(value: Any) -> str | None:
    text = str(value).strip().lower()[:1] if value is not None and value == value else ""
    return text if text in SEXES else None


def _regressor(kind: str, n_components: int, n_train: int, dim: int):
    """Standardised inputs, then PLS (default), ridge (alpha by CV) or a linear SVR."""
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    if kind == "pls":
        model = PLSRegression(n_components=max(1, min(n_components, n_train - 1, dim)), scale=False)
    elif kind == "ridge":
        model = RidgeCV(alphas=np.logspace(-2, 4, 13))
    elif kind == "svr":
        model = SVR(kernel="linear", C=1.0, epsilon=1.0)  # epsilon in cm
    else:
        raise ValueError(f"unknown regressor {kind!r}; use 'pls', 'ridge' or 'svr'")
    return make_pipeline(StandardScaler(), model)


class HeightHead:
    """Speaker sex and height from utterance vectors grouped by speaker."""

    def __init__(self, regressor: str = "pls", n_components: int = 4, C: float = 1.0) -> None:
        _regressor(regressor, n_components, 2, 1)  # fail fast on an unknown name
        self.regressor, self.n_components, self.C = regressor, n_components, C
        self.warnings_: list[str] = []

    def fit(self, X: np.ndarray, height: Any, sex: Any, groups: Any) -> HeightHead:
        """Average per speaker, drop speakers missing a label (with a warning), fit the models."""
        self.warnings_ = []
        keys, means = speaker_means(X, groups)
        table = speaker_labels(groups, height, sex).set_index("group").loc[keys]
        keep = self._usable(table)
        means, table = means[keep], table[keep]
        if len(table) < 2:
            raise ValueError(f"need at least 2 labelled speakers to fit, got {len(table)}")
        self.dim_ = means.shape[1]
        self.sex_model_ = self._fit_sex(means, table["sex"].to_numpy())
        self.height_models_ = self._fit_heights(means, table)
        self.train_mean_ = float(table["height"].mean())
        self.n_speakers_ = len(table)
        return self

    def _usable(self, table: pd.DataFrame) -> np.ndarray:
        """Speakers with both labels; each dropped one is named in a warning and in ``warnings_``."""
        keep = table["height"].notna().to_numpy() & table["sex"].notna().to_numpy()
        for group in table.index[~keep]:
            missing = [c for c in ("height", "sex") if pd.isna(table.loc[group, c])]
            self._warn(f"speaker {group} dropped from training: missing {' and '.join(missing)}")
        return keep

    def _warn(self, message: str) -> None:
        self.warnings_.append(message)
        warnings.warn(message, stacklevel=3)

    def _fit_sex(self, means: np.ndarray, sex: np.ndarray):
        """Standardised logistic regression; a single-sex training set predicts that sex."""
        from sklearn.dummy import DummyClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if len(set(sex)) < 2:
            self._warn(f"only sex {sex[0]!r} in training: the sex classifier is constant")
            return DummyClassifier(strategy="most_frequent").fit(means, sex)
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=2000)).fit(means, sex)

    def _fit_heights(self, means: np.ndarray, table: pd.DataFrame) -> dict[str, Any]:
        """One regressor per sex; a sex with too few speakers uses the pooled one."""
        y, sex = table["height"].to_numpy(float), table["sex"].to_numpy()
        pooled = None
        models = {}
        for s in SEXES:
            mask = sex == s
            if mask.sum() >= MIN_SPEAKERS_PER_SEX:
                models[s] = _regressor(self.regressor, self.n_components, int(mask.sum()), means.shape[1])
                models[s].fit(means[mask], y[mask])
                continue
            if pooled is None:
                pooled = _regressor(self.regressor, self.n_components, len(y), means.shape[1]).fit(means, y)
            self._warn(f"{int(mask.sum())} training speakers of sex {s!r}: using the pooled height regressor")
            models[s] = pooled
        return models

    def predict(self, X: np.ndarray, groups: Any, sex: Any = None) -> pd.DataFrame:
        """Per-speaker (group, sex_pred, sex_prob = P(sex_pred), height_pred); known ``sex`` routes the regressor."""
        keys, means = speaker_means(X, groups)
        if means.shape[1] != self.dim_:
            raise ValueError(f"vectors have {means.shape[1]} dims, the head was fitted on {self.dim_}")
        proba = self.sex_model_.predict_proba(means)
        classes = np.asarray(self.sex_model_.classes_)
        sex_pred = classes[proba.argmax(axis=1)]
        route = sex_pred
        if sex is not None:
            known = speaker_labels(groups, np.full(len(np.asarray(groups)), np.nan), sex)
            given = known.set_index("group").loc[keys, "sex"].to_numpy()
            route = np.where(pd.isna(given), sex_pred, given)
        height = np.empty(len(keys))
        for s in SEXES:
            mask = route == s
            if mask.any():
                height[mask] = np.ravel(self.height_models_[s].predict(means[mask]))
        return pd.DataFrame({"group": keys, "sex_pred": sex_pred, "sex_prob": proba.max(axis=1), "height_pred": height})


def height_metrics(pred: pd.DataFrame, groups: Any, height: Any, sex: Any) -> dict[str, float]:
    """MAE/RMSE overall and per true sex, plus sex accuracy, over speakers with known labels."""
    truth = speaker_labels(groups, height, sex)
    joined = pred.merge(truth, on="group", how="inner")
    out: dict[str, float] = {}
    labelled = joined[joined["height"].notna()]
    out.update(_errors(labelled, ""))
    for s in SEXES:
        out.update(_errors(labelled[labelled["sex"] == s], f"_{s}"))
    sexed = joined[joined["sex"].notna()]
    out["sex_accuracy"] = float((sexed["sex_pred"] == sexed["sex"]).mean()) if len(sexed) else float("nan")
    return out


def _errors(frame: pd.DataFrame, suffix: str) -> dict[str, float]:
    err = frame["height_pred"].to_numpy(float) - frame["height"].to_numpy(float)
    if err.size == 0:
        return {f"mae{suffix}": float("nan"), f"rmse{suffix}": float("nan"), f"n{suffix}": 0}
    return {
        f"mae{suffix}": float(np.abs(err).mean()),
        f"rmse{suffix}": float(np.sqrt(np.mean(err**2))),
        f"n{suffix}": int(err.size),
    }


def mean_baseline(train: tuple[Any, Any, Any], test: tuple[Any, Any, Any]) -> dict[str, float]:
    """MAE of predicting the training mean, overall and per true sex; each arg is (groups, height, sex)."""
    tr, te = speaker_labels(*train).dropna(), speaker_labels(*test).dropna()
    y = te["height"].to_numpy(float)
    per_sex = tr.groupby("sex")["height"].mean()
    sex_mean = te["sex"].map(per_sex).fillna(tr["height"].mean()).to_numpy(float)
    return {
        "mae_mean": float(np.abs(y - tr["height"].mean()).mean()),
        "mae_sex_mean": float(np.abs(y - sex_mean).mean()),
    }


def plot_diagnostics(pred: pd.DataFrame, groups: Any, height: Any, sex: Any, out_dir: str | Path) -> list[Path]:
    """Parity (predicted vs true) and residual plots as PNG files; returns their paths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    joined = pred.merge(speaker_labels(groups, height, sex), on="group").dropna(subset=["height"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in (("parity", _draw_parity), ("residuals", _draw_residuals)):
        fig = Figure(figsize=(4.5, 4.5), dpi=100)
        FigureCanvasAgg(fig)
        draw(fig.add_subplot(), joined)
        fig.tight_layout()
        path = out_dir / f"height_{name}.png"
        fig.savefig(path)
        paths.append(path)
    return paths


def _scatter_by_sex(ax, x: pd.Series, y: pd.Series, sex: pd.Series) -> None:
    for s, colour in (("f", "tab:red"), ("m", "tab:blue"), (None, "tab:gray")):
        mask = sex.isna() if s is None else sex == s
        if mask.any():
            ax.scatter(x[mask], y[mask], s=14, alpha=0.7, color=colour, label=s or "unknown")
    ax.legend(title="true sex", fontsize=8)


def _draw_parity(ax, joined: pd.DataFrame) -> None:
    lo, hi = joined[["height", "height_pred"]].min().min() - 2, joined[["height", "height_pred"]].max().max() + 2
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
    _scatter_by_sex(ax, joined["height"], joined["height_pred"], joined["sex"])
    err = joined["height_pred"] - joined["height"]
    total = float(((joined["height"] - joined["height"].mean()) ** 2).sum())
    r2 = 1 - float((err**2).sum()) / total if total > 0 else float("nan")
    title = f"Height parity (test speakers)\nMAE {err.abs().mean():.1f} cm · R² {r2:.2f} · n = {len(joined)}"
    ax.set(xlabel="true height (cm)", ylabel="predicted height (cm)", title=title, xlim=(lo, hi), ylim=(lo, hi))


def _draw_residuals(ax, joined: pd.DataFrame) -> None:
    ax.axhline(0, color="black", lw=0.8)
    _scatter_by_sex(ax, joined["height"], joined["height_pred"] - joined["height"], joined["sex"])
    ax.set(xlabel="true height (cm)", ylabel="predicted - true (cm)", title="Height residuals")
