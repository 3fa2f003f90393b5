"""tuneq service: the HTTP API and the core contract that workers share."""
