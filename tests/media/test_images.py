"""Images (issue #12): ``tracker.log_image`` (arrays, tensors, PIL images) and
``tracker.log_feature_maps`` (forward hooks, an image grid per layer) through the real SDK
against a live server; the PNG encoder that works without PIL; the server's checks; the
run page's Images section with its step slider in a real browser."""

import base64
import io
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import tracker
from experiments.models import Media
from tests import factories
from tests.browser import login
from tests.helpers import post
from tracker import images


def decode(png: bytes) -> np.ndarray:
    """Pixels of a PNG, decoded by PIL (an independent decoder)."""
    return np.asarray(Image.open(io.BytesIO(png)))


def stored(run_id: int, name: str) -> list[Media]:
    return list(Media.objects.filter(run_id=run_id, kind="image", name=name).order_by("step"))


def stored_pixels(item: Media) -> np.ndarray:
    return decode(base64.b64decode(item.data["png"]))


# --- the encoder and the conversions ---------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_the_standard_library_encoder_writes_pngs_that_pil_reads_back_exactly(channels):
    rng = np.random.default_rng(channels)
    pixels = rng.integers(0, 256, size=(7, 11, channels), dtype=np.uint8)
    png = images.encode_png(pixels)
    back = decode(png)
    assert back.shape[:2] == (7, 11)
    assert np.array_equal(back.reshape(7, 11, channels), pixels)
    assert zlib.crc32(png[12:29]) == int.from_bytes(png[29:33], "big")  # IHDR's CRC


def test_without_pil_and_with_it_the_same_pixels_are_stored():
    image = np.linspace(0, 1, 5 * 6 * 3).reshape(5, 6, 3)
    ours, width, height = images.png_bytes(image, use_pil=False)
    theirs, *_ = images.png_bytes(image, use_pil=True)
    assert (width, height) == (6, 5)
    assert np.array_equal(decode(ours), decode(theirs))
    assert decode(ours)[4, 5, 2] == 255 and decode(ours)[0, 0, 0] == 0  # 0..1 spans 0..255


def test_floats_uint8_tensors_and_pil_images_become_the_same_pixels():
    gray = np.array([[0.0, 0.5], [1.0, 2.0]])  # out of range clipped
    assert images.to_uint8(gray)[:, :, 0].tolist() == [[0, 128], [255, 255]]
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    chw = torch.from_numpy(rgb).permute(2, 0, 1)  # torch keeps channels first
    assert np.array_equal(images.to_uint8(chw), rgb)
    assert np.array_equal(images.to_uint8(torch.tensor(gray)), images.to_uint8(gray))
    assert np.array_equal(images.to_uint8(Image.fromarray(rgb)), rgb)
    assert images.to_uint8(np.array([[np.nan, 1.0]]))[:, :, 0].tolist() == [[0, 255]]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((2, 3, 5)), "got shape (2, 3, 5)"),
        (np.zeros((2, 3, 4, 5)), "got shape (2, 3, 4, 5)"),
        (np.zeros((0, 3)), "1 to 8192 pixels"),
        (np.array([["a", "b"]]), "must be numbers"),
    ],
)
def test_an_image_it_cannot_read_is_refused_naming_why(image, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        images.to_uint8(image)


def test_a_feature_grid_tiles_channels_each_normalised_to_its_own_range():
    maps = torch.stack([torch.full((2, 2), 5.0), torch.tensor([[0.0, 1.0], [2.0, 4.0]]), torch.zeros(2, 2)])
    grid, channels = images.feature_grid(maps)
    assert channels == 3 and grid.shape == (5, 5)  # 2x2 tiles of 2x2 with 1-pixel gaps
    assert grid[:2, :2].tolist() == [[0.0, 0.0], [0.0, 0.0]]  # a flat channel is 0
    assert grid[:2, 3:5].tolist() == [[0.0, 0.25], [0.5, 1.0]]  # its own min..max
    assert grid[2].tolist() == [1.0] * 5  # the gap
    limited, channels = images.feature_grid(torch.rand(40, 3, 3), max_channels=16)
    assert channels == 40 and limited.shape == (15, 15)  # 16 of 40: a 4x4 grid


# --- through the SDK, against a live server --------------------------------------------------


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 20, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(20 * 8 * 8, 3),
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_log_image_stores_pngs_with_steps_and_captions(sdk):
    picture = np.zeros((8, 8, 3))
    picture[2:6, 2:6, 1] = 1.0
    with tracker.init(project="images") as run:
        tracker.log({"train/loss": 1.0}, step=3)
        assert tracker.log_image("samples/input", picture, caption="a green square") == {
            "width": 8, "height": 8, "bytes": pytest.approx(100, abs=100),
        }  # fmt: skip
        run.log_image("samples/input", torch.ones(1, 4, 5), step=9)  # a CHW tensor, by the run
        tracker.log_image("samples/pil", Image.fromarray(np.full((3, 2), 77, dtype=np.uint8)), step=1)
    items = stored(run.id, "samples/input")
    assert [i.step for i in items] == [3, 9]  # the first at the last log()'s step
    assert items[0].data["caption"] == "a green square" and items[1].data["caption"] == ""
    assert np.array_equal(stored_pixels(items[0]), (picture * 255).astype(np.uint8))
    assert stored_pixels(items[1]).shape == (4, 5) and (stored_pixels(items[1]) == 255).all()
    assert (items[1].data["width"], items[1].data["height"]) == (5, 4)
    assert stored_pixels(stored(run.id, "samples/pil")[0]).tolist() == [[77, 77]] * 3


@pytest.mark.django_db(transaction=True)
def test_log_feature_maps_logs_a_grid_per_layer_and_removes_its_hooks(sdk):
    model = cnn()
    batch = torch.rand(4, 1, 8, 8)
    expected = {}
    with torch.no_grad():
        expected["0"] = model[0](batch)[0]
        expected["2"] = model[2](model[1](model[0](batch)))[0]
    with tracker.init(project="images") as run:
        grids = tracker.log_feature_maps(model, batch, layers=["0", "2"], step=5, max_channels=16)
        assert all(not m._forward_hooks for m in model.modules())
    first = stored(run.id, "features/0")
    assert [i.step for i in first] == [5]
    assert first[0].data["caption"] == "0: 6 channels, 8x8 each"
    want, _ = images.feature_grid(expected["0"])
    assert np.array_equal(stored_pixels(first[0]), images.to_uint8(want)[:, :, 0])
    assert np.allclose(grids["0"], want)
    second = stored(run.id, "features/2")[0]
    assert second.data["caption"] == "2: first 16 of 20 channels, 8x8 each"
    assert (second.data["width"], second.data["height"]) == (35, 35)  # 4x4 tiles of 8 + gaps


@pytest.mark.django_db(transaction=True)
def test_log_feature_maps_names_a_missing_layer_and_leaves_no_hook_when_the_model_fails(sdk):
    model = cnn()
    with tracker.init(project="images"):
        with pytest.raises(ValueError, match=r"no module named 'conv9'.*it has: 0, 1, 2"):
            tracker.log_feature_maps(model, torch.rand(1, 1, 8, 8), layers=["conv9"])
        with pytest.raises(RuntimeError):
            tracker.log_feature_maps(model, torch.rand(1, 2, 8, 8), layers=["0"])  # wrong channels
        assert all(not m._forward_hooks for m in model.modules())


# --- the server's checks --------------------------------------------------------------------


def image_item(uid="i0", png=None, width=2, height=1, caption="c"):
    raw = png if png is not None else images.encode_png(np.zeros((1, 2, 1), dtype=np.uint8))
    data = {"png": base64.b64encode(raw).decode(), "width": width, "height": height, "caption": caption}
    return {"uid": uid, "kind": "image", "name": "img", "step": 0, "data": data}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        (image_item(png=b"GIF89a" + b"\0" * 40), "items[1].data.png", "must be a PNG"),
        (image_item(width=3), "items[1].data.width", "the PNG's width (2)"),
        (image_item(caption="x" * 1001), "items[1].data.caption", "at most 1000"),
        (
            {**image_item(), "data": {"png": "not base64!", "width": 2, "height": 1}},
            "items[1].data.png",
            "base64",
        ),
    ],
)
def test_a_bad_image_is_refused_naming_the_field_and_nothing_is_stored(
    client, owner, api_key, item, field, message
):
    run = factories.run(owner, "r")
    body = {"items": [image_item("ok"), {**item, "uid": "bad"}]}
    response = post(client, f"/api/v1/runs/{run.pk}/media", body, api_key)
    assert response.status_code == 400
    assert response.json()["field"] == field and message in response.json()["error"]
    assert not Media.objects.exists()


# --- the run page --------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_run_page_shows_images_with_a_step_slider_and_captions(page, sdk, owner):
    with tracker.init(project="images") as run:
        for step in (0, 10, 20):
            shade = np.full((6, 9), step / 20)
            tracker.log_image("samples/shade", shade, step=step, caption=f"shade at {step}")
        tracker.log_feature_maps(cnn(), torch.rand(2, 1, 8, 8), layers="0", step=20)
    login(page, sdk, owner, f"/runs/{run.id}/")
    card = page.locator("[data-image='samples/shade']")
    page.wait_for_function(
        "() => document.querySelector(\"[data-image='samples/shade']\")?.dataset.step === '20'"
    )
    assert card.locator(".image-caption").inner_text() == "shade at 20"
    assert card.locator("output").inner_text() == "20"
    assert page.locator("[data-image='features/0'] .image-caption").inner_text() == "0: 6 channels, 8x8 each"

    def shown_pixels() -> np.ndarray:
        src = card.locator("img").get_attribute("src")
        return decode(base64.b64decode(src.split(",", 1)[1]))

    assert (shown_pixels() == 255).all()
    card.locator("input[type=range]").fill("1")  # the slider moved to the second step
    page.wait_for_function(
        "() => document.querySelector(\"[data-image='samples/shade']\")?.dataset.step === '10'"
    )
    assert card.locator(".image-caption").inner_text() == "shade at 10"
    assert card.locator("output").inner_text() == "10"
    assert (shown_pixels() == 128).all()
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth") == 9  # the browser drew it
    assert page.errors == []
