"""Help text of the options every command shares, apart from the parameter models: the CLI builds its
``--help`` from it without importing pydantic."""

from __future__ import annotations

# What the options every command shares mean, written once: the parameter models' descriptions and the CLI's
# help text both read this table (a test checks that they do), so --label means the same in every command.
HELP = {
    "db": "LanceDB URI (default: the data directory's lancedb/)",
    "tracking_uri": "MLflow tracking URI (default: the data directory's store)",
    "weights": "the encoder's weights, a hub id or local directory (default: its own); picks the table they made",
    "encoder_options": "the encoder's recipe options KEY=VALUE (e.g. channels=6); picks the table they made",
    "label": "the items' class label: what classify/* and mil/* heads learn, what analyze checks",
    "target": "the numeric label regress/* heads learn (default: the modality's default target, else --label)",
    "registered_name": "MLflow registered model name (default: made from the encoder and the head)",
    "alias": "alias the new model version gets, moved only when the run's checks pass",
}
