"""The DeSIDE-style DDI model (data, network, training, evaluation, inference)."""
