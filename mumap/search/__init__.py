"""Hyper-parameter search: analysis of Optuna studies run with ``python train.py -m hparams=random``."""
