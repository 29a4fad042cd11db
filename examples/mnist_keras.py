"""Deep Learning with Python, chapter 2: the Keras MNIST example, on tapegrad.

The book's code with ``tensorflow`` replaced by ``tapegrad``; nothing else
changed.  Run it as ``python examples/mnist_keras.py`` (the plot needs
matplotlib: ``pip install "tapegrad[plot]"``).
"""
from tapegrad.keras.datasets import mnist

(train_images, train_labels), (test_images, test_labels) = mnist.load_data()

print("Train Images Shape:",train_images.shape)
print("Train Labels Shape",len(train_labels))
print("Train Labels",train_labels)

print("Test Images Shape:",test_images.shape)
print("Test Labels",len(test_labels))
print("Test Labels",test_labels)

from tapegrad import keras
from tapegrad.keras import layers

model = keras.Sequential([
    layers.Dense(512,activation="relu"),
    layers.Dense(10,activation="softmax")
])

model.compile(optimizer="rmsprop",loss="sparse_categorical_crossentropy",metrics=["accuracy"])

"""
Preprocessing the data by reshaping it into the shape that the model expects and scaling it so that all values are in the [0,1] interval
"""
train_images = train_images.reshape((60_000,28*28))
train_images = train_images.astype("float32") / 255
test_images = test_images.reshape((10_000,28*28))
test_images = test_images.astype('float32') / 255
"""
Fit the model
"""
model.fit(train_images,train_labels,epochs=5,batch_size=128)

"""
Using the model to make predictions
"""
import matplotlib.pyplot as plt
import numpy as np
test_digits = test_images[0:10]
predictions = model.predict(test_digits)
fig, ax = plt.subplots(2,5,layout="constrained",figsize=(16,8))
for i in range(10):
    digit = test_images[i]
    if i < 5:
        row = 0
        col = i
    else:
        row = 1
        col = i - 5
    ax[row,col].imshow(digit.reshape(28,28),cmap="gray")
    # YELLOW AND GREEN TOGHETHER
    ax[row,col].axes.get_yaxis().set_visible(False)
    ax[row,col].axes.get_xaxis().set_visible(False)
    prediction_proba_max = np.max(predictions[i])
    prediction_value_max = np.argmax(predictions[i])
    ax[row,col].set_title("Prediction: {} \nwith Probability {:2.2f}%".format(prediction_value_max,prediction_proba_max*100))
fig.suptitle("MNIST DNN Classification Prediction / Probabilities Examples")
plt.show()

"""
How Good is the model at classifying never before seen digits? Checking by computing the average accuracy over the entire set:
"""
test_loss, test_acc = model.evaluate(test_images, test_labels)
print("test_acc: {:1.4f}".format(test_acc))
