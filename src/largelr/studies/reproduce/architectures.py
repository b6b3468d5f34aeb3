"""Architectures and optimizers (claim 4): the LR study for each model x optimizer.

Reuses the models-and-optimizers study (CNN, ResNet-18, ViT x SGD, SGD with momentum, Adam) once it
ships with largelr; one verdict per model x optimizer on claim 1's keys.

Needs: the cnn/resnet18/vit models (not in this version).
Cost: quick ~30 min on 2 CPU cores (small widths); full: GPU advised.
"""

NAME = "architectures"
CLAIMS = ("4",)
COST = {"quick": "~30 min on 2 CPU cores once available", "full": "GPU advised"}
UNAVAILABLE = "needs the CNN/ResNet-18/ViT models and their study, which this version of largelr does not ship yet"
