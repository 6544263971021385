"""The base of every parameter model a Prefect form or a recipe takes: strict, and free of credentials.

Lives in the registry so a modality's recipe parameters (``modalities/speech/recipes.py``) and the flows'
(``flows/params.py``) share one base without a modality importing ``flows``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from embedforge.registry.help import HELP

__all__ = ["HELP", "StrictParams"]

# fields naming a store or a service, and the setting a worker reads the same value from
_LOCATIONS = {"db": "EMBEDFORGE_DB_URI", "tracking_uri": "EMBEDFORGE_TRACKING_URI", "dask_address": None}


class StrictParams(BaseModel):
    """Base of every flow's parameters: strict, and free of credentials (Prefect stores parameters in clear)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # errors never echo a refused secret

    @model_validator(mode="after")
    def _no_credentials(self):
        """A password or token anywhere in the parameters (a URI, an adapter option such as ``heightceleb=URL``)
        would be kept in Prefect's database and shown in its UI: refused, naming the field, never echoing it."""
        from embedforge.registry.redact import redact

        for field, value in self:
            for where, text in _strings(field, value):
                if redact(text) != text:
                    raise ValueError(_credential_message(field, where, redact(text)))
        return self


def _strings(field: str, value: object):
    """(where, text) for every string a parameter holds: itself, a dict's keys and values, a list's items."""
    if isinstance(value, str):
        yield field, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(f"{field}.{k}", k)
            yield from _strings(f"{field}.{k}", v)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _strings(f"{field}[{i}]", v)


def _credential_message(field: str, where: str, shown: str) -> str:
    setting = _LOCATIONS.get(field)
    if field in _LOCATIONS:
        fix = f"set {setting} in the worker's environment" if setting else "use the cluster's own authentication"
    else:
        fix = "put the credential in the environment the worker reads (e.g. netrc, AWS_*, PGPASSWORD)"
    return (
        f"{where} carries a credential ({shown}); flow parameters are stored and shown in clear by Prefect: "
        f"pass it without the secret and {fix}"
    )
