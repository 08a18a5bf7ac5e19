"""One fold of several ranks into a line ("mean across ranks per step"), the same for the
run page's charts, comparisons and diagnostics: the IEEE mean (a NaN on any rank makes
NaN, an infinity makes that infinity), the population std where every rank is finite."""

import math

import numpy as np
import pytest

from experiments.diagnostics.data import RunData
from experiments.models import Run
from experiments.queries import Series, fold_ranks
from tests.helpers import auth, post

pytestmark = pytest.mark.django_db

RANK0 = [1.0, 2.0, 3.0, "NaN"]
RANK1 = [3.0, 4.0, "Infinity", 1.0]


def test_the_fold_is_the_ieee_mean_with_the_std_of_finite_steps():
    series = Series(
        step=[0, 0, 1, 1, 2, 2, 3, 3],
        value=[1.0, 3.0, 2.0, 4.0, 3.0, math.inf, math.nan, 1.0],
        wall_time=[10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0],
        rank=[0, 1] * 4,
    )
    folded = fold_ranks(series)
    assert folded.ranks == 2 and folded.step.tolist() == [0, 1, 2, 3]
    assert folded.value[:3].tolist() == [2.0, 3.0, math.inf] and math.isnan(folded.value[3])
    assert folded.std[:2].tolist() == [1.0, 1.0] and np.isnan(folded.std[2:]).all()
    assert folded.wall_time.tolist() == [11.0, 13.0, 15.0, 17.0]


def test_one_rank_is_left_as_it_is():
    series = Series(step=[0, 1], value=[math.nan, 2.0], wall_time=[1.0, 2.0], rank=[0, 0])
    folded = fold_ranks(series)
    assert folded.std is None and folded.ranks == 1 and folded.step.tolist() == [0, 1]


def _log(client, api_key, run_id: int, rank: int, values: list) -> None:
    rows = [[step, 1.7e9 + step, {"train/loss": v}] for step, v in enumerate(values)]
    body = {"writer": f"w{rank}", "seq": 0, "rank": rank, "rows": rows}
    assert post(client, f"/api/v1/runs/{run_id}/batches", body, api_key).status_code == 200


def test_charts_comparisons_and_diagnostics_fold_ranks_alike(client, api_key, owner):
    ddp = post(client, "/api/v1/runs", {"project": "fold", "name": "ddp"}, api_key).json()["id"]
    _log(client, api_key, ddp, 0, RANK0)
    _log(client, api_key, ddp, 1, RANK1)
    other = post(client, "/api/v1/runs", {"project": "fold", "name": "one"}, api_key).json()["id"]
    _log(client, api_key, other, 0, [1.0, 1.0, 1.0, 1.0])

    client.force_login(owner)
    (chart,) = client.get(f"/runs/{ddp}/series.json").json()["series"]
    assert chart["value"] == [2.0, 3.0, None, None]
    assert chart["std"] == [1.0, 1.0, None, None]
    assert chart["nonfinite"] == {"step": [2, 3], "value": ["Infinity", "NaN"]}

    url = f"/api/v1/runs/{ddp}/compare?against={other}&metric=train/loss&curves=1"
    data = client.get(url, **auth(api_key)).json()
    (line,) = [c for c in data["curves"][0]["lines"] if c["role"] == "side"]
    assert line["value"] == [2.0, 3.0, None, None] and line["std"] == [1.0, 1.0, None, None]
    assert data["metrics"][0]["sides"][0]["final"]["value"] == "NaN"

    curve = RunData(Run.objects.get(pk=ddp)).curve("train/loss")
    assert curve.value[:3].tolist() == [2.0, 3.0, math.inf] and math.isnan(curve.value[3])
