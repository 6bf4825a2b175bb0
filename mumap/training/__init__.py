"""Training: losses, LightningModules, callbacks."""
