"""Deep Learning with Python, chapter 4: classifying movie reviews, on synthetic IMDB-format data.

The book's model (Dense 16 relu, Dense 16 relu, Dense 1 sigmoid, RMSprop,
binary cross-entropy, accuracy) and its data pipeline (reviews as lists of
word ids, multi-hot vectors of 10,000 words, a validation split), with
``tensorflow`` replaced by ``tapegrad``.  The reviews are synthetic, in the
exact format ``keras.datasets.imdb.load_data(num_words=10000)`` returns
(object arrays of int lists starting with start_char 1, ids offset by
index_from=3, int labels 0/1): no download is needed.  A synthetic review
draws most words from a shared Zipf-like vocabulary and some from a set of
"positive" or "negative" words, so the task is learnable, as the real one.

``NUM_REVIEWS`` (env ``IMDB_SYNTHETIC_REVIEWS``) sets the size; the book's
run uses 25,000 reviews and 20 epochs, this one defaults to 4,000 and 4.
``keras.utils.set_random_seed(SEED)`` (env ``IMDB_SYNTHETIC_SEED``) makes
the weights and the shuffling repeatable; the book sets no seed.
"""
import os

import numpy as np
from tapegrad import keras
from tapegrad.keras import layers

NUM_WORDS = 10000
NUM_REVIEWS = int(os.environ.get("IMDB_SYNTHETIC_REVIEWS", 4000))
EPOCHS = int(os.environ.get("IMDB_SYNTHETIC_EPOCHS", 4))
SEED = int(os.environ.get("IMDB_SYNTHETIC_SEED", 0))
keras.utils.set_random_seed(SEED)


def synthetic_imdb(num_reviews, num_words=NUM_WORDS, seed=0, start_char=1, index_from=3):
    """(train_data, train_labels), (test_data, test_labels) as imdb.load_data gives them."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, num_words - index_from + 1)
    zipf = 1.0 / ranks / np.sum(1.0 / ranks)              # frequent words get small ids, as in IMDB
    positive_words = rng.choice(np.arange(500, num_words - index_from), 300, replace=False)
    negative_words = rng.choice(np.setdiff1d(np.arange(500, num_words - index_from), positive_words), 300,
                                replace=False)
    reviews, labels = [], rng.integers(0, 2, 2 * num_reviews)
    for label in labels:
        length = rng.integers(30, 200)
        words = rng.choice(len(zipf), length, p=zipf)
        sentiment = positive_words if label else negative_words
        n_marked = rng.binomial(length, 0.1)
        words[rng.choice(length, n_marked, replace=False)] = rng.choice(sentiment, n_marked)
        reviews.append([start_char] + [int(w) + index_from for w in words])
    data = np.empty(len(reviews), dtype=object)
    data[:] = reviews
    labels = labels.astype(np.int64)
    return (data[:num_reviews], labels[:num_reviews]), (data[num_reviews:], labels[num_reviews:])


(train_data, train_labels), (test_data, test_labels) = synthetic_imdb(NUM_REVIEWS)
print(train_data[0][:10], train_labels[0], max(max(sequence) for sequence in train_data))


# Encoding the integer sequences via multi-hot encoding (float32 here, the book's float64
# arrays would only take twice the memory: fit casts each batch to float32)
def vectorize_sequences(sequences, dimension=NUM_WORDS):
    results = np.zeros((len(sequences), dimension), dtype="float32")
    for i, sequence in enumerate(sequences):
        for j in sequence:
            results[i, j] = 1.
    return results


x_train = vectorize_sequences(train_data)
x_test = vectorize_sequences(test_data)
y_train = np.asarray(train_labels).astype("float32")
y_test = np.asarray(test_labels).astype("float32")

model = keras.Sequential([
    layers.Dense(16, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(1, activation="sigmoid")
])
model.compile(optimizer="rmsprop",
              loss="binary_crossentropy",
              metrics=["accuracy"])

# Setting aside a validation set (the book: 10,000 of 25,000 reviews)
num_val = len(x_train) * 2 // 5
x_val = x_train[:num_val]
partial_x_train = x_train[num_val:]
y_val = y_train[:num_val]
partial_y_train = y_train[num_val:]

history = model.fit(partial_x_train,
                    partial_y_train,
                    epochs=EPOCHS,
                    batch_size=512,
                    validation_data=(x_val, y_val))
history_dict = history.history
print(history_dict.keys())

results = model.evaluate(x_test, y_test)
print(f"test loss {results[0]:.4f}, test accuracy {results[1]:.4f}")
predictions = model.predict(x_test)
print(predictions[:3].ravel())
