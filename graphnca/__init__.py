"""graphnca: Meta-Neural Cellular Automata on the line graph of a network's weights.

A task network is never trained by backprop: every weight is a node carrying a hidden state, and one shared local
rule, meta-trained by backprop through many local updates, grows the network.
"""
import warnings

with warnings.catch_warnings():
    # PyG 2.8 calls torch.jit.script at import, which torch >= 2.10 deprecates: nothing for a user to act on
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script", category=FutureWarning)
    import torch_geometric  # noqa: F401

from .conditioning import DataStream, data_features  # noqa: E402
from .convert import from_sequential, load_grown, to_sequential
from .data import load_test_set
from .forward import task_forward
from .graph import Arch, WeightGraph, batch, repeat
from .line_graph import num_line_graph_edges
from .nn import MetaNCAConv
from .perception import neuron_means, perceive
from .pretrained import PretrainedRule, load_rule
from .pyg import WeightData, from_pyg, to_pyg
from .grow import rollout
from .rule import LocalRule, RuleConfig
from .state import InitConfig, State, init_state, positional_hidden

__version__ = "0.1.0"

__all__ = [
    "Arch", "DataStream", "InitConfig", "LocalRule", "MetaNCAConv", "PretrainedRule", "RuleConfig", "State",
    "WeightData", "WeightGraph", "batch", "data_features", "from_pyg", "from_sequential", "init_state", "load_grown",
    "load_rule", "load_test_set", "neuron_means", "num_line_graph_edges", "perceive", "positional_hidden", "repeat",
    "rollout", "task_forward", "to_pyg", "to_sequential",
]
