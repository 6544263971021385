"""Run in a subprocess by the plugin test: train toy heads on stored vectors, log them, serve one raw toy file."""

import base64
import json
import sys

import mlflow
import pandas as pd
from toyplugin.serving import KindAndSize

from embedforge.registry.heads import build_head
from embedforge.tasks.features import load_features
from embedforge.tasks.tracking import head_signature, log_head, use_tracking

db, tracking, query = sys.argv[1:4]
feats = load_features(db, "toy/stats", "toy")
train = feats.of_split("train")
kind = build_head("classify/logreg").fit(train.X, train.label("kind").astype(str))
size = build_head("regress/ridge").fit(train.X, train.label("size").astype(float))
served = KindAndSize(kind, size)
meta = {"input": "toy", "encoder": feats.identity, "encoder_weights": None, "task": "toy"}
use_tracking(tracking, "toy-serving")
with mlflow.start_run():
    logged = log_head(served, meta, head_signature(served, meta, train.X[:2]), "toy-model", "champion")
model = mlflow.pyfunc.load_model("models:/toy-model@champion")
with open(query, "rb") as f:
    payload = base64.b64encode(f.read()).decode()
out = model.predict(pd.DataFrame({"toy": [payload, payload]}))
stored = served.predict_vectors(feats.X[[feats.ids.index(query.rsplit("/", 1)[-1])]])
print(json.dumps({"served": out.to_dict("records"), "stored": stored.to_dict("records"), "uri": logged["model_uri"]}))
