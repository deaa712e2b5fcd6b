"""Secrets a submitted run was given (`pressroom submit --pass-env NAME`), read by reference.

Ray's job API returns a job's `runtime_env.env_vars` in plain text to any client, and its runtime
env agent logs them: a secret must never travel there. `submit` writes the values into a file of
the job's working directory (uploaded to the cluster's object store with the job, unpacked next
to the driver and every worker of the job) and puts only that file's name in `env_vars`. The
driver and each worker read it into their own environment before they need it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SECRETS_ENV = "PRESSROOM_SECRETS_FILE"
SECRETS_FILE = "pressroom-secrets.json"  # in the job's working directory (no dot: Ray may skip dotfiles)


def write_secrets(directory: Path, values: dict[str, str]) -> dict[str, str]:
    """Write the values for a job's working directory; the env var that names them (no values)."""
    path = directory / SECRETS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    return {SECRETS_ENV: SECRETS_FILE}


def load_secrets() -> list[str]:
    """Put the job's secrets into this process's environment (once the file is there); their names."""
    name = os.environ.get(SECRETS_ENV)
    if not name or not Path(name).is_file():
        return []
    values = json.loads(Path(name).read_text())
    os.environ.update({str(k): str(v) for k, v in values.items()})
    return sorted(values)
