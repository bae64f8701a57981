import pytest
import torch

import graphnca


def _brute_force(g, neighbourhood):
    """Neighbourhood sets straight from their definitions."""
    src, dst = g.src.tolist(), g.dst.tolist()
    E = len(src)
    In = lambda n: {k for k in range(E) if dst[k] == n}
    Out = lambda n: {k for k in range(E) if src[k] == n}
    f, b = [], []
    for e in range(E):
        i, j = src[e], dst[e]
        if neighbourhood == "incident":
            f.append(In(j) | Out(j)), b.append(In(i) | Out(i))
        elif neighbourhood == "consecutive":
            f.append(Out(j)), b.append(In(i))
        else:
            f.append(In(j)), b.append(Out(i))
    return f, b


@pytest.mark.parametrize("neighbourhood", ["incident", "consecutive", "siblings"])
def test_line_graph_matches_definition(neighbourhood):
    m = [torch.tensor([[1, 0, 1], [1, 1, 0]], dtype=torch.bool), None]
    g = graphnca.WeightGraph.from_sizes([3, 2, 2], masks=m)
    ef, eb = g.line_graph(neighbourhood)
    f, b = _brute_force(g, neighbourhood)
    for ei, sets in ((ef, f), (eb, b)):
        got = [set() for _ in sets]
        for k, e in ei.T.tolist():
            got[e].add(k)
        assert got == sets
        assert ei.shape[1] == sum(len(s) for s in sets)  # no duplicate edges
    assert graphnca.num_line_graph_edges(g, neighbourhood) == (ef.shape[1], eb.shape[1])


def test_line_graph_memory_budget():
    g = graphnca.WeightGraph.from_sizes([784, 100, 100, 10])
    assert sum(graphnca.num_line_graph_edges(g, "incident")) > 8e7
    with pytest.raises(ValueError, match="memory budget.*hub engine"):
        g.line_graph("incident")


def test_unknown_neighbourhood():
    g = graphnca.WeightGraph.from_sizes([2, 2])
    with pytest.raises(ValueError, match="unknown neighbourhood"):
        g.line_graph("everything")
