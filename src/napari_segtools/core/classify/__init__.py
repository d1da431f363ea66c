"""Voxel classification from scribbles: features in mm, scikit-learn classifiers, safe files.

The lecture's classical recipe: describe each voxel by its neighbourhood (Gaussian-smoothed
intensity, edges, blobs, texture at scales given in mm), train a classifier (a random forest by
default) on the few voxels a user scribbled, and apply it to the whole volume in chunks.
"""
