"""Deep Learning with Python, chapter 2: the GradientTape snippets, on tapegrad.

The book's code with ``tensorflow`` replaced by ``tapegrad`` (imported under
the book's name ``tf``); nothing else changed.  (The book's last print shows
the previous gradient again; that slip is kept, as printed in the book.)
"""
import tapegrad as tf
HYPHEN_LENGTH = 50
def make_section(str):
    print('\n' + str + '\n' + HYPHEN_LENGTH*'-')
print("GradientTape on Scalar Value\n"+'-'*HYPHEN_LENGTH)
x = tf.Variable(0.) # Initiate a scalar Variable with an initial value of 0.
with tf.GradientTape() as tape: # Open a GradientTape scope
  y = 2  * x + 3 # Inside the scope, apply some tensor operations on the variable
grad_of_y_wrt_x = tape.gradient(y, x) # use the tape to retrieve the  gradient fo the output y with respect to the variable x
print("Gradient of y wrt x", grad_of_y_wrt_x)

print("\nWorks with Tensor Operations\n"+'-'*HYPHEN_LENGTH)
x = tf.Variable(tf.random.uniform((2,2))) # Initiate a Variable with shape (2,2) and an initial value of all zeros
with tf.GradientTape() as tape:
  y = 2 * x + 3
grad_of_y_wrt_x = tape.gradient(y,x)
print("Gradient of y wrt x", grad_of_y_wrt_x) # grad_of_y_wrt_x is a tensor of shape (2,2) (like x) describing the curvatire of y = 2 * a  + 3 around x = [[0,0]. [0,0]]

print("\nWorks on a List of Variables\n"+'-'*HYPHEN_LENGTH)
W = tf.Variable(tf.random.uniform((2,2)))
b = tf.Variable(tf.zeros((2,)))
x = tf.random.uniform((2,2))
with tf.GradientTape() as tape:
  y = tf.matmul(x,W) + b # matmul is how you say "dot product" in TensorFlow
grad_of_y_wrt_W_and_b = tape.gradient(y,[W,b]) # grad_of_y_wrt_W_and_b is a list of two tensors with the same shapes as W and b, respectively
print("Gradient of y wrt x", grad_of_y_wrt_x)
