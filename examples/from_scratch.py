"""Deep Learning with Python, chapter 2: MNIST from scratch, on tapegrad.

NaiveDense, NaiveSequential, BatchGenerator and the training loop of the
book, with ``tensorflow`` replaced by ``tapegrad`` (imported under the
book's name ``tf``); nothing else changed.  The book reaches about 0.82
test accuracy after 10 epochs of plain SGD at learning rate 1e-3.
"""
import tapegrad as tf
import numpy as np

"""
A `Dense` layer implents the following input transformation, where W and b are model parameters, and `activation` is an element-wise function (usually `relu`, but it would be `softmax` for the last layer):

output = activation(dot(W,input) + b)
"""
class NaiveDense:
    """
    This class creates two variables, W and b, and exposes a __call__() method that applies the preceding transformation
    """
    def __init__(self, input_size, output_size, activation):
        self.activation = activation
        w_shape = (input_size, output_size) # Create a Matrix, W, of shape (input_size, output_size) initialized with random values
        w_initial_value = tf.random.uniform(w_shape,minval=0,maxval=1e-1)
        self.W = tf.Variable(w_initial_value)

        b_shape = (output_size,) # Create a vector, b, of shape (output_size, ) initialized with zeros
        b_initial_value = tf.zeros(b_shape)
        self.b = tf.Variable(b_initial_value)

    def __call__(self, inputs):
        """
        Apply the forward pass
        """
        return self.activation(tf.matmul(inputs, self.W) + self.b)
    @property
    def weights(self): # Convenience method for retrieving the layer's weights
        return [self.W,self.b]

class NaiveSequential:
    """
    Creating a NaiveSequential class to chain NaiveDense layers/ It wraps a lists of layers and exposes a __call__() method that simply calls the underlying layers on the inputs, in order. It also features a weights property to easily keep track of the layers' parameters
    """
    def __init__(self,layers):
        self.layers = layers

    def __call__(self,inputs):
        x = inputs
        for layer in self.layers:
            x = layer(x)
        return x

    @property
    def weights(self):
        weights = []
        for layer in self.layers:
            weights += layer.weights
        return weights


model = NaiveSequential([
    NaiveDense(input_size=28*28, output_size=512, activation=tf.nn.relu),
    NaiveDense(input_size=512, output_size=10, activation=tf.nn.softmax)
])

assert len(model.weights)  == 4

"""
Next, we need to iteratoe over the MNISt data in mini-batches. This is easy:
"""
import math
class BatchGenerator:
    def __init__(self, images, labels, batch_size=128):
        assert len(images) == len(labels)
        self.index = 0
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.num_batches = math.ceil(len(images) / batch_size)
    def next(self):
        images = self.images[self.index : self.index + self.batch_size]
        labels = self.labels[self.index: self.index + self.batch_size]
        self.index += self.batch_size
        return images, labels



def one_training_step(model, images_batch, labels_batch):
    """
    The most difficult part of the process is the "training step": updating thw eights of the model after running it on one batch of data. We need to:

    1. Compute the predictions of the model for the images in the batch
    2. Compute the loss value for these predictions, given the actual labels
    3. Compute the gradient of the loss with regard to the model's weights
    4. Move the weights by a small amount in the direction opposite to the gradient
    """
    with tf.GradientTape() as tape:
        """
        Run the "foward pass" (compute the model's predictions under a GradientTape scope)
        """
        predictions = model(images_batch)
        per_sample_losses = tf.keras.losses.sparse_categorical_crossentropy(labels_batch, predictions)
        average_loss = tf.reduce_mean(per_sample_losses)
    """
    Compute the gradient of the loss with regard to the weights. The output gradients is a list where each entropy corresponds to a weight from the model.weights list
    """
    gradients = tape.gradient(average_loss,model.weights)
    update_weights(gradients,model.weights) # Update the weights using the gradients
    return average_loss

learning_rate = 1e-3
def update_weights(gradients,weights):
    """
    The purpose of the "weight update" step is to move the wights by "a bit" in a direction to reduce the loss of the batch. The magnitude of the move is determined by the "learning rate", typically a small quantity. The simplest way to implement this update_weights function is to subtract gradient * learning_rate from each weight
    """
    for g, w in zip(gradients,weights):
        w.assign_sub(g*learning_rate) # assign_sub is the equivalent of -= for TensorFlow variables

"""
The step above would almost never be implemented by hand. Instead, you would use the `Optimizer` instance from Keras:
"""
from tapegrad.keras import optimizers

optimizer = optimizers.SGD(learning_rate=1e-3)

def update_weights(gradients,weights):
    optimizer.apply_gradients(zip(gradients, weights))

"""
The full training loop
----------------------------------------------------

An eopoch of training simply consists of repeating the training step for each batch in the training data, and the full training loop is simply the retition of one epoch
"""
def fit(model, images, labels, epochs, batch_size=128):
    for epoch_counter in range(epochs):
        print(f"Epoch {epoch_counter}")
        batch_generator = BatchGenerator(images,labels)
        for batch_counter in range(batch_generator.num_batches):
            images_batch, labels_batch = batch_generator.next()
            loss = one_training_step(model, images_batch, labels_batch)
            if batch_counter % 100 == 0:
                print(f"loss at batch {batch_counter}: {loss:.2f}")
"""
Testing Out Our Implementation
"""
from tapegrad.keras.datasets import mnist

(train_images, train_labels), (test_images, test_labels) = mnist.load_data()

train_images = train_images.reshape((60000, 28 * 28))
train_images = train_images.astype("float32") / 255
test_images = test_images.reshape((10000, 28 * 28))
test_images = test_images.astype("float32") / 255

fit(model, train_images, train_labels, epochs=10, batch_size=128)
"""
Evaluating the Model
"""
predictions = model(test_images)
predictions = predictions.numpy() # Calling .numpy() on a TensorFlow tensor converts it to a NumPy tensor
predicted_labels = np.argmax(predictions,axis=1)
matches = predicted_labels == test_labels
print(f"Accuracy: {matches.mean():.2f}")
