"""One place that hides credentials in anything printed or written: URI passwords and secret query values."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
# scheme://user:password@host -> scheme://user:***@host (the user name stays: it says which account). The
# password runs to the '@' that ends the authority: any character but '@' (RFC 3986 sub-delims and ':' included,
# and the '/' and quotes real passwords hold although the RFC wants them escaped), a space only where another
# '@' follows within the next word, so "http://host:5000/ and mail a@b" is not taken for a password.
_USERINFO = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s'\"]*):(?P<secret>(?:[^@\s]|[ \t](?=[^@\s]*@))+)@"
)
# ?password=...&token=... and KEY=value pairs on command lines
_PARAM = re.compile(
    r"(?P<key>\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|signature|sig)=)"
    r"(?P<secret>[^&\s;'\"]+)",
    re.IGNORECASE,
)


def redact(text: Any) -> str:
    """``text`` with every URI password and secret-named parameter value replaced by ``***``."""
    out = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", str(text))
    return _PARAM.sub(lambda m: f"{m['key']}{MASK}", out)


def redact_all(values: list[Any]) -> list[str]:
    """Each element redacted (a command line kept as a list)."""
    return [redact(v) for v in values]


def install_log_redaction() -> None:
    """Every log record this process creates from now on (ours, Prefect's, MLflow's) is redacted once, at
    creation, whatever handler later writes or ships it."""
    import logging

    make = logging.getLogRecordFactory()
    if getattr(make, "redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
