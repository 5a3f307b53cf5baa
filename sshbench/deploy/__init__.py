"""Deploying the system under test: the SSH API started where the inventory says
(``api_deploy``), with the test user's credentials registered through its own HTTP API."""
