"""The paper's experiments and the CLI commands built on them; each writes JSON + a PNG drawn from it."""
from .demo import demo
from .export import grow_command, load_grown
from .heatmap import heatmap
from .robustness import robustness
from .stability import stability
from .summary import format_summary
from .train_cmd import train_command

__all__ = ["demo", "format_summary", "grow_command", "heatmap", "load_grown", "robustness", "stability",
           "train_command"]
