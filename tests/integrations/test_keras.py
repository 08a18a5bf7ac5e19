"""``TrackerCallback`` in a real Keras 3 ``fit`` (torch backend, CPU) against a live server:
what it logs equals the ``History`` object; the model summary is stored; the server's stop
flag ends ``fit``."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is imported: TensorFlow is not installed

import pytest

from experiments.models import Media, Run
from tests.integrations.support import points_by_step

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

np = pytest.importorskip("numpy")
keras = pytest.importorskip("keras")

from tracker.integrations.keras import TrackerCallback  # noqa: E402

if keras.backend.backend() != "torch":
    pytest.skip("these tests run Keras on the torch backend", allow_module_level=True)


def _data(n: int = 160, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    return x, y


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_logged_values_equal_the_history_object(sdk):
    x, y = _data()
    callback = TrackerCallback(project="keras", name="dense", batch_freq=2)
    model = _model()
    history = model.fit(x, y, validation_split=0.25, epochs=4, batch_size=16, verbose=0, callbacks=[callback])

    run = Run.objects.get(pk=callback.run.id)
    assert (run.project.name, run.name, run.status) == ("keras", "dense", "finished")
    assert run.config["keras"]["epochs"] == 4 and run.config["keras"]["optimizer"][
        "learning_rate"
    ] == pytest.approx(0.01)
    stored = points_by_step(run.id)

    # 120 training samples, 16 a batch: 8 batches an epoch; each epoch logged at its last batch.
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for epoch in range(4):
        step = 8 * epoch + 7
        assert stored[("epoch", step, 0)] == [epoch]
        for key, values in history.history.items():
            name = f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"
            assert stored[(name, step, 0)] == [values[epoch]], (name, epoch)
    epoch_keys = {k for k, _, _ in stored if not k.startswith("batch/")}
    assert epoch_keys == {"epoch", "train/loss", "train/accuracy", "val/loss", "val/accuracy"}
    # Every 2nd batch's running values; an epoch's last batch value is the epoch's.
    batch_steps = sorted(step for key, step, _ in stored if key == "batch/loss")
    assert batch_steps == list(range(1, 32, 2))
    assert stored[("batch/loss", 31, 0)] == [history.history["loss"][-1]]

    summary = Media.objects.get(run=run, kind="text", name="model/summary").data["value"]
    printed: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: printed.append(text))
    assert summary == "\n".join(printed) and "Trainable params: 65 " in summary


def test_the_servers_stop_flag_stops_fit(sdk):
    x, y = _data(4000)
    callback = TrackerCallback(project="keras", batch_freq=None)

    class RequestStop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3 and self.params and not getattr(self, "asked", False):
                self.asked = True
                Run.objects.filter(pk=callback.run.id).update(stop_requested=True)

    model = _model()
    history = model.fit(x, y, epochs=200, batch_size=16, verbose=0, callbacks=[RequestStop(), callback])
    assert model.stop_training and len(history.history["loss"]) < 200
    run = Run.objects.get(pk=callback.run.id)
    assert (run.status, run.stop_requested) == ("finished", True)
