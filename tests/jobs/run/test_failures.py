"""What a failed generation reports: bad input found inside a Ray task stays exit 2, and any
other failure names its real cause in one line (not Ray Data's empty SystemException)."""

from __future__ import annotations

import pytest

from jobs.errors import InputError, JobError
from jobs.run.generate import _job_failure


def _explode(batch):
    raise InputError("input file /in/a.parquet: input ended at row 7, before row 8 of a planned shard")


def test_bad_input_raised_inside_a_ray_task_exits_2(ray_session):
    import ray.data

    with pytest.raises(Exception) as caught:
        ray.data.range(4).map_batches(_explode).take_all()
    failure = _job_failure(caught.value)
    assert isinstance(failure, InputError) and failure.exit_code == 2
    assert str(failure) == "input file /in/a.parquet: input ended at row 7, before row 8 of a planned shard"


def test_an_actor_death_behind_ray_datas_system_exception_is_named():
    from ray.data.exceptions import SystemException
    from ray.exceptions import ActorDiedError

    try:
        try:
            raise SystemException()
        except SystemException as empty:
            raise ActorDiedError() from empty
    except ActorDiedError as exc:
        failure = _job_failure(exc)
    assert isinstance(failure, JobError) and failure.exit_code == 1
    message = str(failure)
    assert message.startswith("generation failed: ActorDiedError: The actor died")
    assert not message.rstrip().endswith(":")
