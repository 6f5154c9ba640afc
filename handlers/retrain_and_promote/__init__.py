"""Handlers of the retrain-and-promote workflow: prepare a labelled dataset, smoke-test an endpoint."""
