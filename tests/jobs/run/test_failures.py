"""What a failed generation reports: bad input found inside a Ray task stays exit 2, and any
other failure names its real cause in one line (not Ray Data's empty SystemException)."""

from __future__ import annotations

import pytest

from jobs.errors import InputError, JobError
from jobs.run.pipeline import failure


def _explode(batch):
    raise InputError("input file /in/a.parquet: input ended at row 7, before row 8 of a planned shard")


def test_bad_input_raised_inside_a_ray_task_exits_2(ray_session):
    import ray.data

    with pytest.raises(Exception) as caught:
        ray.data.range(4).map_batches(_explode).take_all()
    found = failure(caught.value)
    assert isinstance(found, InputError) and found.exit_code == 2
    assert str(found) == "input file /in/a.parquet: input ended at row 7, before row 8 of a planned shard"


def test_an_actor_death_behind_ray_datas_system_exception_is_named():
    from ray.data.exceptions import SystemException
    from ray.exceptions import ActorDiedError

    try:
        try:
            raise SystemException()
        except SystemException as empty:
            raise ActorDiedError() from empty
    except ActorDiedError as exc:
        found = failure(exc)
    assert isinstance(found, JobError) and found.exit_code == 1
    message = str(found)
    assert message.startswith("generation failed: ActorDiedError: The actor died")
    assert not message.rstrip().endswith(":")
