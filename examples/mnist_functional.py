"""Deep Learning with Python, chapter 7: the MNIST model built with the functional API,
trained with callbacks, saved by ModelCheckpoint and loaded back.

The book's code with ``tensorflow`` replaced by ``tapegrad``.  It holds out
the first 10,000 training images for validation, stops when the validation
accuracy has not improved for 2 epochs, keeps the model of the best
validation loss in ``checkpoint_path.keras`` (in the current directory), then
loads that file and evaluates it on the test set.

Options (the defaults are the book's): ``--epochs 10``, ``--seed S`` (weights,
dropout and shuffling; none by default, as in the book), ``--limit N``
(train on N images and validate and test on N // 5 each: a quick check),
``--backend cython|numba|numpy``, ``--threads N`` (kernel threads; 1 is the
fastest on a machine whose cores are busy with other work).
"""
import argparse

import tapegrad.kernels as K
from tapegrad import keras
from tapegrad.keras import layers
from tapegrad.keras.datasets import mnist

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--seed", type=int, default=None)
parser.add_argument("--limit", type=int, default=None, help="train on N images (validate/test on N // 5)")
parser.add_argument("--backend", default=None, choices=K.available_backends())
parser.add_argument("--threads", type=int, default=None)
args = parser.parse_args()
if args.backend:
    K.use(args.backend)
if args.threads:
    K.set_num_threads(args.threads)
if args.seed is not None:
    keras.utils.set_random_seed(args.seed)


def get_mnist_model():
    inputs = keras.Input(shape=(28 * 28,))
    features = layers.Dense(512, activation="relu")(inputs)
    features = layers.Dropout(0.5)(features)
    outputs = layers.Dense(10, activation="softmax")(features)
    model = keras.Model(inputs, outputs)
    return model


(images, labels), (test_images, test_labels) = mnist.load_data()
images = images.reshape((60000, 28 * 28)).astype("float32") / 255
test_images = test_images.reshape((10000, 28 * 28)).astype("float32") / 255
train_images, val_images = images[10000:], images[:10000]
train_labels, val_labels = labels[10000:], labels[:10000]
if args.limit:
    held_out = max(1, args.limit // 5)
    train_images, train_labels = train_images[:args.limit], train_labels[:args.limit]
    val_images, val_labels = val_images[:held_out], val_labels[:held_out]
    test_images, test_labels = test_images[:held_out], test_labels[:held_out]

callbacks_list = [
    keras.callbacks.EarlyStopping(
        monitor="val_accuracy",
        patience=2,
    ),
    keras.callbacks.ModelCheckpoint(
        filepath="checkpoint_path.keras",
        monitor="val_loss",
        save_best_only=True,
    ),
]
model = get_mnist_model()
model.compile(optimizer="rmsprop",
              loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
history = model.fit(train_images, train_labels,
                    epochs=args.epochs,
                    callbacks=callbacks_list,
                    validation_data=(val_images, val_labels))

model = keras.models.load_model("checkpoint_path.keras")
test_loss, test_acc = model.evaluate(test_images, test_labels)
print(f"epochs run: {len(history.history['loss'])}")
print(f"best val_loss: {min(history.history['val_loss']):.4f}")
print(f"test_acc: {test_acc:.4f}")
