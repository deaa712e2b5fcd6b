"""Refuse stores that ignore conditional writes: every guarantee of run state rests on them.

Once per output root and process, before a run is claimed, a put of a fresh key with
If-None-Match is followed by a second one that must fail. A store (or a proxy in front of it)
that drops the condition lets the second land: pressroom then refuses to run there.
"""

from __future__ import annotations

import uuid

from jobs.errors import JobError
from jobs.retry import with_retries
from jobs.state.paths import PROBE_DIR
from workers.io import AlreadyExists, Storage, join

_CHECKED: set[str] = set()


def check_conditional_writes(storage: Storage, output_uri: str) -> None:
    """Raise JobError naming the store unless it refuses a second If-None-Match put of one key."""
    if output_uri in _CHECKED:
        return
    uri = join(output_uri, PROBE_DIR, f"probe-{uuid.uuid4().hex}")
    try:
        with_retries(lambda: storage.write_bytes(uri, b"first", if_none_match=True))
        try:
            with_retries(lambda: storage.write_bytes(uri, b"second", if_none_match=True))
        except AlreadyExists:
            _CHECKED.add(output_uri)
            return
        raise JobError(
            f"the object store {storage!r} behind {output_uri} ignores conditional writes (If-None-Match): "
            "pressroom needs them to keep one writer per run and to commit each manifest once"
        )
    finally:
        storage.delete(uri)
