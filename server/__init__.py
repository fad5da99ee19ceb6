"""The coach's front door: the ``coach`` command line, settings, and (soon) the FastAPI app."""
