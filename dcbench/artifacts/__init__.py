"""Condensed sets as artifacts that travel: finding one on disk, hashing what it holds, and moving it between
machines as a checksummed archive with a dataset card (``dcbench export`` / ``dcbench import``)."""
