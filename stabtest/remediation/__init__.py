"""Remediation: adjudicated failures become training data, the model is fine-tuned with
TRL (LoRA SFT or DPO), and the suite is rerun on variants training never saw; a gate
accepts or rejects the new model version."""
