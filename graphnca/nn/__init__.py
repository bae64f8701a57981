"""GNN layers (PyG ``MessagePassing`` subclasses)."""
from .metanca_conv import MetaNCAConv

__all__ = ["MetaNCAConv"]
