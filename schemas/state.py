"""Run state records other than the manifest: the run lease."""

from __future__ import annotations

from pydantic import Field

from schemas.manifest import RecordModel


class LeaseHolder(RecordModel):
    """The driver process holding a lease: enough to tell, on its own host, whether it still runs."""

    host: str = Field(description="Host name of the driver.")
    boot_id: str = Field(description="The host's boot id (Linux); a reboot makes pids meaningless.")
    pid: int = Field(ge=0, description="The driver's process id.")
    started: str = Field(description="The process's start time in clock ticks since boot (Linux).")


class Lease(RecordModel):
    """`_lease.json`: which attempt of a run is generating, by whom, until when."""

    job: str
    run_id: str
    attempt: int = Field(ge=1, description="Attempt number: 1 for the first driver, +1 per takeover.")
    token: str = Field(description="Unique per acquisition.")
    holder: LeaseHolder
    acquired_at: str = Field(description="UTC time this attempt took the lease (ISO 8601).")
    expires_at: float = Field(description="Unix time after which another driver may take the lease over.")
    released: bool = Field(default=False, description="The holder finished with the run (committed or failed).")
