"""The SSH API under test: a Flask app that runs commands on HPC hosts over SSH."""

__version__ = "0.1.0"
