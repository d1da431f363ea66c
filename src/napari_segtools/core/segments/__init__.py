"""Segments of a label map: names and colours, statistics, edit effects and files.

Every function takes a label array (numpy axis order) plus ``spacing`` in mm or a
:class:`~napari_segtools.core.geometry.Geometry`, and returns arrays or small frozen
dataclasses; nothing here imports napari or Qt.
"""
