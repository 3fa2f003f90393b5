"""Reports and plots of finished jobs (matplotlib, no display; no TensorFlow)."""
