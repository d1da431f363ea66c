"""Pure computation: numpy arrays plus spacing in, arrays or frozen dataclasses out.

Nothing here imports napari, Qt or magicgui; torch and SimpleITK are imported inside functions.
"""
