"""Proving the sandbox matches a live service: the scripted conformance run and the validating proxy."""
