"""The shape of a layer's activations (TopoAct, Rathore et al. 2019): Mapper graphs.

:mod:`.mapper` holds the numerics (vectors per example, lens, cover, clusterer's eps, the graph
with Jaccard edge strengths, purity and topology), :mod:`.render` draws a graph as a PNG with
Pillow. The job that runs them is :mod:`topomap_core.analyses.mapper`.
"""
