"""Images and feature maps, logged as PNG media (kind ``image``) that the run page shows
with a step slider and the caption.

    tracker.log_image("samples/input", batch[0], step=step, caption="first test digit")
    tracker.log_feature_maps(model, batch, layers=["conv1", "conv2"], step=step)

Images may be numpy arrays (HxW, HxWx1, HxWx3, HxWx4; floats in 0..1 or uint8), torch
tensors (HW or CHW, any device) or PIL images. They are encoded as PNG here: by PIL when it
is installed, else by a small encoder on ``zlib`` and ``struct`` (the SDK needs nothing
beyond the standard library and numpy). ``log_feature_maps`` captures what the named
layers output with forward hooks (as the notes our users learn from teach), removed
again before it returns, and logs each layer's channels tiled into one grid.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tracker import _current
from tracker._current import PluginRun
from tracker.media import default_step, to_numpy
from tracker.uploads import new_uid
from tracker.values import check_step

if TYPE_CHECKING:
    import numpy as np

# Decoded PNG bytes per image; the server refuses more (experiments/media/items.py).
MAX_PNG_BYTES = 4 * 1024 * 1024
MAX_SIDE = 8192
MAX_CAPTION = 1000
_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, RGB, RGBA)


# -- arrays ------------------------------------------------------------------------------


def _is_pil(image: Any) -> bool:
    return type(image).__module__.startswith("PIL.") and hasattr(image, "mode") and hasattr(image, "convert")


def to_uint8(image: Any) -> np.ndarray:
    """An HxWxC uint8 array (C in 1..4) from an array, a tensor or a PIL image.

    Tensors are CHW (or HW) as torch keeps them; arrays are HWC (or HW) as numpy and PIL
    keep them. Floats are read as 0..1 (clipped); NaN is 0. Raises ValueError naming what
    is wrong with the shape."""
    import numpy as np

    if _is_pil(image):
        if image.mode not in ("L", "LA", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        array = np.asarray(image)
    else:
        tensor = callable(getattr(image, "detach", None))
        array = to_numpy(image, "image")
        if tensor and array.ndim == 3:
            array = array.transpose(1, 2, 0)  # torch keeps CHW
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(
            "image must be HxW or HxWxC with C in 1..4 (tensors: HxW or CxHxW), "
            f"got shape {tuple(array.shape)}"
        )
    height, width = array.shape[:2]
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise ValueError(f"image sides must be 1 to {MAX_SIDE} pixels, got {height}x{width}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == bool:
        return np.ascontiguousarray(array.astype(np.uint8) * 255)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"image values must be numbers, got dtype {array.dtype}")
    values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    if array.dtype.kind in "iu":
        values = values / 255.0  # integers are 0..255 pixel values
    return np.ascontiguousarray((np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


# -- PNG -----------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an HxWxC uint8 array (C in 1..4), with the standard library only:
    8-bit samples, no filter, zlib at level 6."""
    height, width, channels = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    rows = pixels.reshape(height, width * channels)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 per scanline
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def png_bytes(image: Any, use_pil: bool | None = None) -> tuple[bytes, int, int]:
    """(PNG bytes, width, height) of an image. PIL encodes when installed (``use_pil``
    None), else ``encode_png``."""
    pixels = to_uint8(image)
    height, width = pixels.shape[:2]
    if use_pil is None or use_pil:
        try:
            from PIL import Image
        except ImportError:
            if use_pil:
                raise
        else:
            import io

            buffer = io.BytesIO()
            squeezed = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels
            Image.fromarray(squeezed, mode={1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]).save(
                buffer, format="PNG"
            )
            return buffer.getvalue(), width, height
    return encode_png(pixels), width, height


# -- feature maps ----------------------------------------------------------------------------


def feature_grid(activations: Any, max_channels: int = 16) -> tuple[np.ndarray, int]:
    """One grey HxW grid (floats 0..1) of a layer's output for one sample: CxHxW
    channels tiled in a near-square grid, each normalised to its own min..max (a flat
    channel is 0), one pixel of gap between tiles; a 1-D output (a linear layer) is one
    row. Returns (grid, channels in the output)."""
    import numpy as np

    maps = to_numpy(activations, "activations").astype(np.float64)
    if maps.ndim == 1:
        maps = maps[None, None, :]
    elif maps.ndim == 2:
        maps = maps[None, :, :]
    elif maps.ndim > 3:
        maps = maps.reshape(maps.shape[0], maps.shape[1], -1)
    channels = maps.shape[0]
    maps = maps[: max(1, max_channels)]
    maps = np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    maps = np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)
    n, h, w = maps.shape
    columns = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    grid = np.ones((rows * (h + 1) - 1, columns * (w + 1) - 1))  # gaps are white
    for i in range(n):
        r, c = divmod(i, columns)
        grid[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = maps[i]
    return grid, channels


# -- logging ---------------------------------------------------------------------------------


def _run(run: PluginRun | None) -> PluginRun:
    return run if run is not None else _current.require()


def _key(key: str) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= 200 or not key.isprintable():
        raise ValueError(f"image key {str(key)[:60]!r} must be 1 to 200 printable characters")
    return key


def log_image(
    key: str,
    image: Any,
    step: int | None = None,
    caption: str | None = None,
    *,
    run: PluginRun | None = None,
) -> dict[str, Any]:
    """Log ``image`` under ``key`` at ``step`` (default: the step of the last ``log()``),
    with an optional ``caption``. Returns ``{"width", "height", "bytes"}``. Raises
    ValueError for an image it cannot read, naming what is wrong, before anything is
    queued; the upload itself never blocks (the run's uploader sends it)."""
    run = _run(run)
    key = _key(key)
    step = default_step(run) if step is None else check_step(step)
    if caption is not None and (
        not isinstance(caption, str) or len(caption) > MAX_CAPTION or "\x00" in caption
    ):
        raise ValueError(f"caption must be a string of at most {MAX_CAPTION} characters, without NUL")
    data, width, height = png_bytes(image)
    if len(data) > MAX_PNG_BYTES:
        raise ValueError(f"image {key!r} is {len(data):,} bytes as PNG; at most {MAX_PNG_BYTES:,} are kept")
    item = {
        "png": base64.b64encode(data).decode("ascii"),
        "width": width,
        "height": height,
        "caption": caption or "",
    }
    if run.mode != "disabled":
        run.uploader.add_media([{"uid": new_uid(), "kind": "image", "name": key, "step": step, "data": item}])
    return {"width": width, "height": height, "bytes": len(data)}


def _modules(model: Any, layers: Iterable[str] | str) -> dict[str, Any]:
    names = [layers] if isinstance(layers, str) else list(layers)
    found = dict(model.named_modules())
    missing = [n for n in names if n not in found]
    if missing or not names:
        known = ", ".join(n for n in found if n) or "(none)"
        raise ValueError(
            f"no module named {', '.join(map(repr, missing)) or 'at all'} in the model; it has: {known}"
        )
    return {name: found[name] for name in names}


def log_feature_maps(
    model: Any,
    batch: Any,
    layers: Sequence[str] | str = (),
    step: int | None = None,
    max_channels: int = 16,
    *,
    key_prefix: str = "features",
    run: PluginRun | None = None,
) -> dict[str, Any]:
    """Run ``batch`` through ``model`` under ``torch.no_grad()`` with a forward hook on
    each module named in ``layers`` (names as ``model.named_modules()`` gives them), and
    log what each output for the batch's first sample as an image grid
    ``{key_prefix}/{layer}``: at most ``max_channels`` channels tiled, each normalised to
    its own range. The hooks are removed before it returns, also when the model raises.
    The model's train/eval mode is left as it is. Returns ``{layer: grid array}``."""
    import torch

    run = _run(run)
    modules = _modules(model, layers)
    captured: dict[str, Any] = {}
    handles = []

    def hook_for(name: str):
        def hook(module: Any, inputs: Any, output: Any) -> None:
            tensor = output[0] if isinstance(output, tuple | list) else output
            if name not in captured and torch.is_tensor(tensor):
                captured[name] = tensor.detach()[0].float().cpu()

        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(hook_for(name)))
        with torch.no_grad():
            model(batch)
    finally:
        for handle in handles:
            handle.remove()
    grids = {}
    for name in modules:
        if name not in captured:
            raise ValueError(f"module {name!r} produced no tensor in the forward pass")
        grid, channels = feature_grid(captured[name], max_channels)
        shape = "x".join(str(d) for d in captured[name].shape[1:]) or str(captured[name].shape[0])
        shown = (
            f"first {min(channels, max_channels)} of {channels} channels"
            if channels > max_channels
            else (f"{channels} channel{'s' if channels != 1 else ''}")
        )
        log_image(f"{key_prefix}/{name}", grid, step=step, caption=f"{name}: {shown}, {shape} each", run=run)
        grids[name] = grid
    return grids
