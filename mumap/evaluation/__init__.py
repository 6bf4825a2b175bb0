"""Evaluation: metrics, polar maps, figures and reports."""
