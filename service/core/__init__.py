"""The contract shared by the API and the workers.

Nothing under this package imports Flask, Celery, TensorFlow, Keras or scikit-optimize, so both
sides (and a test) can use it without dragging in the other side's stack.
"""
