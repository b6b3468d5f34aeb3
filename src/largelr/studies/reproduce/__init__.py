"""Reproduce targets: one study file per claim group of the paper (see ``largelr.reproduce``)."""
