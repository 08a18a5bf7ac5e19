"""Checkpoints: saved from training, uploaded (SHA-256 checked, size and step kept),
pruned by keep-best-k, listed and downloadable with authorisation, and loaded back as
identical tensors."""

import hashlib
import json

import pytest
import torch
from django.test import override_settings

import tracker
from experiments.media.artifacts import artifact_root, checkpoint_path
from experiments.models import Checkpoint
from tests import factories
from tests.helpers import auth
from tests.media.support import assert_same, model


@pytest.mark.django_db(transaction=True)
def test_a_checkpoint_round_trips_with_identical_tensors_and_is_recorded(sdk):
    net = model()
    net(torch.randn(2, 1, 8, 8))  # BatchNorm running stats and num_batches_tracked change
    expected = {k: v.clone() for k, v in net.state_dict().items()}
    with tracker.init(project="digits") as run:
        tracker.log({"val/acc": 0.5}, step=41)
        saved = tracker.save_checkpoint(net, metrics={"val/acc": 0.5}, wait=True)
        assert saved["step"] == 41  # the step of the last log()
        loaded = tracker.load_checkpoint(which="latest")  # the current run
    assert_same(loaded, expected)
    assert_same(tracker.load_checkpoint(run.id, which=41), expected)

    stored = Checkpoint.objects.get(run_id=run.id)
    path = checkpoint_path(stored)
    assert (stored.step, stored.size, stored.metrics) == (41, path.stat().st_size, {"val/acc": 0.5})
    assert stored.sha256 == saved["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert artifact_root() in path.parents
    assert not list((run.dir / "uploads").glob("*")), "the local copy goes once the server has it"


@pytest.mark.django_db(transaction=True)
def test_keep_best_k_keeps_the_best_by_the_metrics_direction_and_the_latest(sdk):
    accs = [0.50, 0.80, 0.70, 0.90, 0.60, 0.65]
    with tracker.init(project="digits") as run:
        for epoch, acc in enumerate(accs):
            net = model(seed=epoch)
            tracker.save_checkpoint(
                net,
                step=epoch * 10,
                metrics={"val/acc": acc, "val/loss": 1 - acc},
                keep_best=2,
                metric="val/acc",
            )
        run._uploader.flush(10)
        best = tracker.load_checkpoint(which="best")
    # Best two by val/acc (0.90 at step 30, 0.80 at step 10) and the latest (step 50).
    kept = Checkpoint.objects.filter(run_id=run.id).order_by("step")
    assert [c.step for c in kept] == [10, 30, 50]
    assert {c.best_metric for c in kept} == {"val/acc"}
    assert_same(best, model(seed=3).state_dict())
    files = sorted(p.name for p in checkpoint_path(kept[0]).parent.iterdir())
    assert len(files) == 3, files  # pruned files are deleted too
    # By a loss, lower is better: the best is the one with the smallest val/loss.
    by_loss = tracker.load_checkpoint(run.id, which="best", metric="val/loss")
    assert_same(by_loss, model(seed=3).state_dict())


@pytest.mark.django_db(transaction=True)
def test_a_file_path_uploads_the_file_as_it_is(sdk, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(b"not a torch file, just bytes" * 1000)
    with tracker.init(project="digits") as run:
        info = tracker.save_checkpoint(source, step=3, wait=True)
        source.write_bytes(b"changed after the call")  # the copy taken at the call is what ships
    stored = Checkpoint.objects.get(run_id=run.id)
    assert (stored.filename, stored.size) == ("weights.bin", 28_000)
    assert checkpoint_path(stored).read_bytes() == b"not a torch file, just bytes" * 1000
    assert info["sha256"] == stored.sha256


def upload(client, run, key, body: bytes, **query):
    params = {"step": 1, "uid": "u1", "sha256": hashlib.sha256(body).hexdigest(), **query}
    url = f"/api/v1/runs/{run.pk}/checkpoints?" + "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(url, body, content_type="application/octet-stream", **(auth(key) if key else {}))


@pytest.fixture
def stored_run(owner):
    return factories.run(owner, "r")


@pytest.mark.django_db
def test_the_upload_endpoint_checks_the_hash_the_metadata_and_the_caller(
    client, stored_run, api_key, stranger_api_key
):
    body = b"x" * 1000
    bad = upload(client, stored_run, api_key, body, sha256="0" * 64)
    assert bad.status_code == 400 and bad.json()["field"] == "sha256"
    assert upload(client, stored_run, api_key, body, step=-1).json() == {
        "error": "must be >= 0",
        "field": "step",
    }
    missing = upload(client, stored_run, api_key, body, keep_best=2)
    assert (missing.status_code, missing.json()["field"]) == (400, "best_metric")
    assert upload(client, stored_run, None, body).status_code == 401
    assert upload(client, stored_run, stranger_api_key, body).status_code == 404
    assert not Checkpoint.objects.exists()
    folder = artifact_root() / "checkpoints" / f"run-{stored_run.pk}"
    assert not folder.exists() or not list(folder.iterdir()), "a refused upload leaves no file"

    created = upload(client, stored_run, api_key, body, metrics=json.dumps({"val/acc": 0.5}))
    assert created.status_code == 201 and created.json()["size"] == 1000
    again = upload(client, stored_run, api_key, body)  # a retry: same uid
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert Checkpoint.objects.count() == 1


@pytest.mark.django_db
def test_checkpoints_larger_than_their_own_cap_are_refused_before_reading(client, stored_run, api_key):
    with override_settings(TRACKER_MAX_CHECKPOINT_BYTES=500):
        response = upload(client, stored_run, api_key, b"x" * 1000)
    assert response.status_code == 413 and response.json()["field"] == "body"
    assert not Checkpoint.objects.exists()
    # Its own cap, not the JSON body cap: bigger than TRACKER_MAX_BODY_BYTES is fine.
    with override_settings(TRACKER_MAX_BODY_BYTES=100, DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        assert upload(client, stored_run, api_key, b"y" * 5000).status_code == 201


@pytest.mark.django_db
def test_downloads_need_the_owner_on_the_api_and_on_the_page(
    client, stored_run, api_key, stranger_api_key, stranger
):
    body = b"weights" * 100
    checkpoint_id = upload(client, stored_run, api_key, body).json()["id"]
    api_url = f"/api/v1/runs/{stored_run.pk}/checkpoints/{checkpoint_id}/file"
    got = client.get(api_url, **auth(api_key))
    assert got.status_code == 200 and b"".join(got.streaming_content) == body
    assert got["X-Checkpoint-Sha256"] == hashlib.sha256(body).hexdigest()
    assert client.get(api_url, **auth(stranger_api_key)).status_code == 404
    assert client.get(api_url).status_code == 401

    page_url = f"/runs/{stored_run.pk}/checkpoints/{checkpoint_id}/download"
    assert client.get(page_url).status_code == 302  # to the login page
    client.force_login(stranger)
    assert client.get(page_url).status_code == 404
    client.force_login(stored_run.project.owner)
    page = client.get(page_url)
    assert page.status_code == 200 and b"".join(page.streaming_content) == body
    assert "attachment" in page["Content-Disposition"]
    listed = client.get(f"/runs/{stored_run.pk}/media.json").json()["checkpoints"]
    assert [c["download"] for c in listed] == [page_url]
