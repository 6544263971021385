"""After training, the CLI says where the run is and prints a line that loads the model (no credential in it)."""

import shlex

from embedforge.tasks.tracking import where_the_run_is


def test_a_web_tracking_server_gets_the_run_url_and_the_password_stays_hidden():
    lines = where_the_run_is("abc123", "models:/m@champion", "https://bob:hunter2@mlflow.example.org/")
    assert lines[0] == "run abc123: https://bob:***@mlflow.example.org/#/runs/abc123"
    assert "hunter2" not in "".join(lines)
    env, python, flag, code = shlex.split(lines[1].removeprefix("load it: "))
    assert env.startswith("MLFLOW_TRACKING_URI=https://") and (python, flag) == ("python", "-c")
    compile(code, "<load>", "exec")  # the pasted line is valid Python
    assert "load_model('models:/m@champion')" in code


def test_a_local_store_points_at_mlflow_ui():
    lines = where_the_run_is("r1", None, "sqlite:////tmp/my store/mlflow.db")
    assert lines == ["run r1: mlflow ui --backend-store-uri 'sqlite:////tmp/my store/mlflow.db'"]
