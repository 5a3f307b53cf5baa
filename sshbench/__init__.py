"""The harness of the SSH-API performance study: testbed, sweep points, provenance."""

__version__ = "0.1.0"
