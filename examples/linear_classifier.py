"""Deep Learning with Python, chapter 3: a linear classifier in pure TensorFlow, on tapegrad.

Two Gaussian point clouds, a weight matrix W and a bias b as Variables, a
squared loss and 40 steps of gradient descent written by hand with a
GradientTape, then the decision line ``W0 x + W1 y + b = 0.5`` drawn over
the points.  Only ``import tensorflow as tf`` became ``import tapegrad as
tf``.  (The book's chapter-3 text is not in this repository; the listing
follows the book's well-known code.)  It also prints the accuracy of the
classes it finds, which the book only shows in a figure.
"""
import numpy as np
import tapegrad as tf

# Generating two classes of random points in a 2D plane
num_samples_per_class = 1000
negative_samples = np.random.multivariate_normal(
    mean=[0, 3],
    cov=[[1, 0.5], [0.5, 1]],
    size=num_samples_per_class)
positive_samples = np.random.multivariate_normal(
    mean=[3, 0],
    cov=[[1, 0.5], [0.5, 1]],
    size=num_samples_per_class)

# Stacking the two classes into an array with shape (2000, 2)
inputs = np.vstack((negative_samples, positive_samples)).astype(np.float32)

# Generating the corresponding targets (0 and 1)
targets = np.vstack((np.zeros((num_samples_per_class, 1), dtype="float32"),
                     np.ones((num_samples_per_class, 1), dtype="float32")))

# Creating the linear classifier variables
input_dim = 2
output_dim = 1
W = tf.Variable(initial_value=tf.random.uniform(shape=(input_dim, output_dim)))
b = tf.Variable(initial_value=tf.zeros(shape=(output_dim,)))


# The forward pass function
def model(inputs):
    return tf.matmul(inputs, W) + b


# The mean squared error loss function
def square_loss(targets, predictions):
    per_sample_losses = tf.square(targets - predictions)
    return tf.reduce_mean(per_sample_losses)


# The training step function
learning_rate = 0.1


def training_step(inputs, targets):
    with tf.GradientTape() as tape:
        predictions = model(inputs)
        loss = square_loss(targets, predictions)
    grad_loss_wrt_W, grad_loss_wrt_b = tape.gradient(loss, [W, b])
    W.assign_sub(grad_loss_wrt_W * learning_rate)
    b.assign_sub(grad_loss_wrt_b * learning_rate)
    return loss


# The batch training loop
for step in range(40):
    loss = training_step(inputs, targets)
    print(f"Loss at step {step}: {loss:.4f}")

predictions = model(inputs)
accuracy = float(np.mean((predictions.numpy() > 0.5) == (targets > 0.5)))
print(f"Accuracy: {accuracy:.4f}")

# The decision line: a float32 tensor meets the float64 array of np.linspace
x = np.linspace(-1, 4, 100)
y = - W[0] / W[1] * x + (0.5 - b) / W[1]

try:
    import matplotlib.pyplot as plt
except ImportError:  # the plots are optional; the numbers above are the result
    plt = None
if plt is not None:
    plt.scatter(inputs[:, 0], inputs[:, 1], c=predictions[:, 0] > 0.5)
    plt.show()
    plt.plot(x, y, "-r")
    plt.scatter(inputs[:, 0], inputs[:, 1], c=predictions[:, 0] > 0.5)
    plt.show()
