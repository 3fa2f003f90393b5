"""The tuning engine: plain Python, no Celery.

Modules that import Keras (``models``, ``training``) are imported only by the code that trains,
so scheduling code and the Celery parent process never load TensorFlow.
"""
