"""Fixed costs a user pays on every command: what each command imports, and no Prefect server for no work."""

import json
import os
import subprocess
import sys

HEAVY = ("torch", "lancedb", "mlflow", "prefect")
MODEL_PACKAGES = (
    "torch",
    "transformers",
    "chronos",
    "tirex",
    "aeon",
    "resemblyzer",
    "speechbrain",
    "open_clip",
    "timm",
)

# Runs the console script in-process, then reports which top-level packages it imported and whether
# Prefect's server (the temporary one starts from prefect.server) was ever loaded.
PROBE = """
import json, sys
sys.argv = ["embedforge", *json.loads(sys.argv[1])]
from embedforge.flows.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
except BaseException as exc:
    print(repr(exc))
    code = 1
else:
    code = 0
loaded = sorted({m.split(".")[0] for m in sys.modules})
print("@@" + json.dumps({"code": code, "loaded": loaded, "server": "prefect.server.api.server" in sys.modules}))
"""


def run_cli(*args: str, **env: str) -> dict:
    """The CLI in a fresh interpreter; the modules it loaded and its output."""
    full = dict(os.environ, COLUMNS="200", **env)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], env=full, capture_output=True, text=True, timeout=600
    )
    report = next((line for line in done.stdout.splitlines() if line.startswith("@@")), None)
    assert report is not None, done.stdout[-3000:] + done.stderr[-3000:]
    return dict(json.loads(report[2:]), output=done.stdout + done.stderr)


def test_help_imports_no_heavy_package():
    out = run_cli("--help")
    assert out["code"] == 0, out["output"]
    assert not set(HEAVY) & set(out["loaded"]), out["loaded"]
    # --help reads no settings and no parameter model (0.36 -> 0.21 s): pydantic-settings and numpy stay out
    assert not {"pydantic_settings", "numpy"} & set(out["loaded"]), out["loaded"]


def test_encoders_imports_no_model_package():
    out = run_cli("encoders")
    assert out["code"] == 0 and "speech/ge2e" in out["output"], out["output"]
    assert not set(MODEL_PACKAGES) & set(out["loaded"]), out["loaded"]


def test_search_imports_no_prefect(prefect_harness, arrays_dir, tmp_path):
    from embedforge.registry.encoders import build_encoder
    from embedforge.tasks.store import VectorStore

    model = build_encoder("test/tiny")
    rows = [
        dict(id=p.name, uri=str(p), content_hash=p.name, split=None, group=None, labels={}, dataset="a", vector=v)
        for p, v in ((p, model.encode([model.preprocess(_series(p), p.name)])[0]) for p in _arrays(arrays_dir))
    ]
    db = str(tmp_path / "db")
    VectorStore(db).upsert("test__tiny", model.identity(), rows)
    out = run_cli("search", "--encoder", "test/tiny", "--query", str(arrays_dir / "s04.npy"), "--db", db, "-k", "2")
    assert out["code"] == 0 and "s04.npy" in out["output"], out["output"]
    assert "prefect" not in out["loaded"]


def test_rerun_with_nothing_to_do_starts_no_prefect_server(prefect_harness, arrays_dir, tmp_path):
    from prefect.settings import PREFECT_API_URL

    db = str(tmp_path / "db")
    args = ("embed", "--dataset", f"arrays:{arrays_dir}", "--encoder", "test/tiny", "--db", db, "--name", "a")
    first = run_cli(*args, PREFECT_API_URL=PREFECT_API_URL.value())
    assert first["code"] == 0 and "embedded 12" in first["output"], first["output"][-3000:]
    # No reachable API at all: any flow run, client call or server start would fail or show in the modules.
    again = run_cli(*args, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert again["code"] == 0, again["output"][-3000:]
    assert "nothing to do" in again["output"] and "skipped as already known 12" in again["output"], again["output"]
    assert not again["server"] and "prefect" not in again["loaded"]  # planning alone never imports Prefect
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], env=env, capture_output=True, text=True, timeout=600
    )
    report = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("@@"))[2:])
    assert report["code"] == 0 and not report["server"], done.stdout[-2000:] + done.stderr[-2000:]


def _arrays(root):
    return sorted(root.glob("*.npy"))


def _series(path):
    import numpy as np

    from embedforge.modalities.base import Series

    return Series(np.load(path))


def test_shard_task_runs_share_one_prefect_client(prefect_harness, arrays_dir, tmp_path, monkeypatch):
    """Each new Prefect client loads the CA bundle into a new SSL context (~40 ms): count them over 12 shards."""
    import ssl

    from embedforge.flows.embed import run_embed
    from embedforge.flows.params import EmbedParams

    made = []
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: made.append(1) or real(*a, **k))
    params = EmbedParams(
        dataset=f"arrays:{arrays_dir}",
        encoder="test/tiny",
        db=str(tmp_path / "db"),
        dataset_name="clients",
        shard_size=1,
        progress_artifact=False,
    )
    summary = run_embed(params)
    assert summary["embedded"] == 12 and summary["shards"] == 12
    assert len(made) < 12, f"{len(made)} Prefect clients for 12 shard task runs (one each would be 12+)"


def test_cli_runs_go_through_the_local_stack_when_it_is_up(tmp_path, monkeypatch):
    from embedforge.flows.progress import connect_prefect
    from embedforge.infra.stack import pids_file
    from embedforge.registry.settings import Settings

    monkeypatch.setenv("EMBEDFORGE_HOME", str(tmp_path))
    monkeypatch.setenv("EMBEDFORGE_PREFECT_PORT", "4999")
    monkeypatch.setenv("EMBEDFORGE_PREFECT_SERVER", "temporary")
    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:1/api")
    assert connect_prefect() == "http://elsewhere:1/api"  # an explicit API always wins
    monkeypatch.delenv("PREFECT_API_URL")
    assert connect_prefect() is None and "PREFECT_API_URL" not in os.environ  # no stack, temporary asked for
    path = pids_file(Settings())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"prefect-server": {"pid": os.getpid()}}))  # a live process stands for the server
    assert connect_prefect() == "http://127.0.0.1:4999/api" == os.environ["PREFECT_API_URL"]


def test_the_cli_hands_its_plan_to_the_flow_so_the_dataset_is_scanned_once(
    prefect_harness, arrays_dir, tmp_path, monkeypatch
):
    import embedforge.tasks.embed as tasks_embed
    from embedforge.flows.embed import run_embed
    from embedforge.flows.params import EmbedParams
    from embedforge.flows.progress import plan_first

    opened = []
    real = tasks_embed.open_dataset
    monkeypatch.setattr(tasks_embed, "open_dataset", lambda *a, **k: opened.append(a) or real(*a, **k))
    params = EmbedParams(dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db=str(tmp_path / "db"),
                         dataset_name="once", progress_artifact=False)  # fmt: skip
    nothing, planned = plan_first(params)
    assert nothing is None and planned is not None
    summary = run_embed(params.model_copy(update={"plan": planned}))
    assert summary["embedded"] == 12 and len(opened) == 1  # scanned and hashed by the CLI's plan only
    assert "plan" not in EmbedParams.model_json_schema()["properties"]  # internal: not a field of the UI's form
    again, _ = plan_first(params)
    assert again is not None and again["skipped"] == 12


def test_a_first_write_with_no_server_up_starts_it_beside_the_plan(tmp_path, monkeypatch):
    """The background server (~5 s to start) boots while the dataset is planned, only where the run surely has
    work (its table is new) and connecting would start one; otherwise connecting waits for the plan."""
    import threading

    from embedforge.flows import progress
    from embedforge.flows.params import EmbedParams

    monkeypatch.setenv("EMBEDFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("EMBEDFORGE_PREFECT_SERVER", "background")
    seen = []
    monkeypatch.setattr(progress, "connect_prefect", lambda: seen.append(threading.current_thread().name) or "http://x")
    params = EmbedParams(dataset="ucr:GunPoint", encoder="timeseries/minirocket", weights="ucr:GunPoint",
                         db=str(tmp_path / "db"))  # fmt: skip
    join = progress.connect_beside_plan(params)
    assert join is not progress.connect_prefect and join() == "http://x" and seen == ["prefect-server-start"]
    from embedforge.tasks.store import table_name

    (tmp_path / "db" / f"{table_name('timeseries/minirocket', 'ucr:GunPoint')}.lance").mkdir(parents=True)
    assert progress.connect_beside_plan(params) is progress.connect_prefect  # the table exists: plan first
    # ... and once its plan found work, the stopped server boots in a thread too (the encoder is built meanwhile)
    seen.clear()
    join = progress.connect_for_work(progress.connect_prefect)
    assert getattr(join, "booting", False) and join() == "http://x" and seen == ["prefect-server-start"]
    assert progress.connect_for_work(join) is join  # already booting: the same join
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    fresh = params.model_copy(update={"db": str(tmp_path / "other")})
    assert progress.connect_beside_plan(fresh) is progress.connect_prefect  # an API is given: nothing to start
    assert progress.connect_for_work(progress.connect_prefect) is progress.connect_prefect


def test_the_encoder_is_built_while_the_server_boots_and_the_shard_reuses_it(tmp_path, monkeypatch, arrays_dir):
    """A fresh home: the model's imports and build overlap the server's boot (9.6 -> 7.6 s for MiniRocket on
    ItalyPowerDemand); only when a server is booting and the shards run in this process."""
    from embedforge.flows import progress
    from embedforge.flows.params import EmbedParams, RunnerParams
    from embedforge.registry import cache

    cache._cached_encoder.cache_clear()
    params = EmbedParams(dataset=f"arrays:{arrays_dir}", encoder="test/tiny", db=str(tmp_path / "db"))

    def booting() -> str:
        return "http://x"

    booting.booting = True  # what connect_beside_plan returns while the server starts in its thread
    progress.build_while_booting(progress.connect_prefect, params)  # a server up: nothing built here
    assert cache._cached_encoder.cache_info().currsize == 0
    progress.build_while_booting(booting, params.model_copy(update={"runner": RunnerParams(kind="dask")}))
    assert cache._cached_encoder.cache_info().currsize == 0  # Dask workers build their own
    progress.build_while_booting(booting, params)
    built = cache.cached_encoder("test/tiny", None, device="cpu")
    assert cache._cached_encoder.cache_info().currsize == 1 and cache._cached_encoder.cache_info().hits == 1
    assert built.spec.name == "test/tiny"
    bad = params.model_copy(update={"encoder": "test/tiny", "encoder_options": {"no_such_option": 1}})
    progress.build_while_booting(booting, bad)  # a failing build is left to the shard, which records it


def test_prefect_imported_while_the_server_boots_reports_to_it_once_connected():
    """Prefect (~1 s to import) is imported during the boot, before the API's URL is known; Prefect reads its
    settings at import, so once connected it reads them again and its flow runs go to that server."""
    check = (
        "import os, sys\n"
        "from embedforge.flows import progress\n"
        "progress.import_prefect_while_booting(progress.connect_prefect)\n"
        "print('prefect' in sys.modules)\n"
        "def join(): return None\n"
        "join.booting = True\n"
        "progress.import_prefect_while_booting(join)\n"
        "from prefect.settings import get_current_settings\n"
        "print('embedforge.flows.embed' in sys.modules, get_current_settings().api.url)\n"
        "os.environ['PREFECT_API_URL'] = 'http://127.0.0.1:9/api'\n"
        "progress.prefect_sees_api()\n"
        "print(get_current_settings().api.url)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["False", "True", "None", "http://127.0.0.1:9/api"], out.stdout + out.stderr[-2000:]
