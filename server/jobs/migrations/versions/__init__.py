"""One file per revision, oldest first: ``vNNNN_<what>.py`` with ``revision = "NNNN"``."""
