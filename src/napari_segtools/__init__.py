"""napari-segtools: segmentation tools and honest segmentation metrics for napari.

The scripting API works on numpy arrays plus voxel spacing (mm, numpy axis order)::

    import napari_segtools as nst
    mask = nst.threshold_mask(ct, lower=226, upper=3071)
    report = nst.metrics.evaluate(reference, mask, spacing=(1.5, 0.96, 0.96))

Names are imported lazily, so ``import napari_segtools`` loads no Qt, torch or SimpleITK.
"""

from __future__ import annotations

import importlib

try:
    from ._version import version as __version__
except ImportError:  # pragma: no cover - source tree without a build
    __version__ = "0.0.0"

#: public name -> module that defines it
_EXPORTS = {
    # shared types
    "Geometry": "napari_segtools.core.geometry",
    "Progress": "napari_segtools.core._types",
    # I/O
    "read_image": "napari_segtools.core.io",
    "write_image": "napari_segtools.core.io",
    "list_dicom_series": "napari_segtools.core.io",
    # thresholding
    "threshold_mask": "napari_segtools.core.threshold",
    "auto_threshold": "napari_segtools.core.threshold",
    "threshold_labels": "napari_segtools.core.threshold",
    "local_threshold": "napari_segtools.core.threshold",
    # mask clean-up (physical units)
    "clean_mask": "napari_segtools.core.cleanup",
    "keep_largest_component": "napari_segtools.core.cleanup",
    "keep_components_touching": "napari_segtools.core.cleanup",
    "remove_small_objects": "napari_segtools.core.cleanup",
    "fill_holes": "napari_segtools.core.cleanup",
    "open_mask": "napari_segtools.core.cleanup",
    "close_mask": "napari_segtools.core.cleanup",
    "median_smooth": "napari_segtools.core.cleanup",
    "paint_labels": "napari_segtools.core.cleanup",
    "CleanupSettings": "napari_segtools.core.cleanup",
    # threshold -> clean-up -> write pipeline
    "ThresholdSettings": "napari_segtools.core.threshold_pipeline",
    "threshold_segment": "napari_segtools.core.threshold_pipeline",
    "threshold_into_labels": "napari_segtools.core.threshold_pipeline",
    "threshold_labels_cleaned": "napari_segtools.core.threshold_pipeline",
    "body_mask": "napari_segtools.core.threshold",
    # region growing
    "connected_threshold": "napari_segtools.core.region_growing",
    "confidence_connected": "napari_segtools.core.region_growing",
    "neighborhood_connected": "napari_segtools.core.region_growing",
    "grow_from_seeds": "napari_segtools.core.region_growing",
    "auto_range": "napari_segtools.core.region_growing",
    # atlas propagation
    "propagate_atlas": "napari_segtools.core.atlas",
    "multi_atlas_propagate": "napari_segtools.core.atlas",
    "iter_propagate_atlases": "napari_segtools.core.atlas",
    "read_atlas_folder": "napari_segtools.core.atlas",
    "Atlas": "napari_segtools.core.atlas",
    "AtlasResult": "napari_segtools.core.atlas",
    "RegistrationSettings": "napari_segtools.core.registration",
    # U-Net
    "list_models": "napari_segtools.core.unet.package",
    "load_model": "napari_segtools.core.unet.package",
    "predictive_entropy": "napari_segtools.core.unet.predict",
    "receptive_field": "napari_segtools.core.unet.receptive_field",
    "probe_receptive_field": "napari_segtools.core.unet.receptive_field",
    "ReceptiveField": "napari_segtools.core.unet.receptive_field",
    "make_loss": "napari_segtools.core.unet.losses",
    "MODEL_FORMATS": "napari_segtools.core.unet.formats",
    "detect_format": "napari_segtools.core.unet.formats",
    "registry_entries": "napari_segtools.core.unet.registry",
    "fetch_model": "napari_segtools.core.unet.registry",
    "import_model": "napari_segtools.core.unet.registry",
    "RegistryEntry": "napari_segtools.core.unet.registry",
    "cache_dir": "napari_segtools.core.unet.registry",
    "brain_mask": "napari_segtools.core.brain_mask",
    "BrainMaskWarning": "napari_segtools.core.brain_mask",
    "DomainWarning": "napari_segtools.core.unet.domain",
    "check_domain": "napari_segtools.core.unet.domain",
    "RegistrationWarning": "napari_segtools.core.atlas",
    "LOSSES": "napari_segtools.core.unet.losses",
    # evaluation
    "evaluate": "napari_segtools.core.metrics",
    # segments: names and colours, edit effects, files
    "SegmentInfo": "napari_segtools.core.segments.info",
    "segment_statistics": "napari_segtools.core.segments.statistics",
    "segment_summary": "napari_segtools.core.segments.statistics",
    "SegmentStatistics": "napari_segtools.core.segments.statistics",
    "SegmentSummary": "napari_segtools.core.segments.statistics",
    "editable_area": "napari_segtools.core.segments.editable",
    "keep_largest_island": "napari_segtools.core.segments.effects",
    "remove_small_islands": "napari_segtools.core.segments.effects",
    "split_islands": "napari_segtools.core.segments.effects",
    "keep_selected_island": "napari_segtools.core.segments.effects",
    "logical_operation": "napari_segtools.core.segments.effects",
    "margin": "napari_segtools.core.segments.effects",
    "smooth": "napari_segtools.core.segments.effects",
    "smooth_joint": "napari_segtools.core.segments.effects",
    "hollow": "napari_segtools.core.segments.effects",
    "fill_segment_holes": "napari_segtools.core.segments.effects",
    "fill_between_slices": "napari_segtools.core.segments.effects",
    "SourceGrid": "napari_segtools.core.segments.source_grid",
    "to_source_grid": "napari_segtools.core.segments.source_grid",
    "write_on_source_grid": "napari_segtools.core.segments.source_grid",
    "write_seg_nrrd": "napari_segtools.core.segments.seg_nrrd",
    "read_seg_nrrd": "napari_segtools.core.segments.seg_nrrd",
    "write_itksnap_labels": "napari_segtools.core.segments.itksnap",
    "read_itksnap_labels": "napari_segtools.core.segments.itksnap",
    "Mesh": "napari_segtools.core.segments.mesh",
    "segment_mesh": "napari_segtools.core.segments.mesh",
    "segment_meshes": "napari_segtools.core.segments.mesh",
    "write_mesh": "napari_segtools.core.segments.mesh",
    "export_meshes": "napari_segtools.core.segments.mesh",
    "write_dicom_seg": "napari_segtools.core.segments.dicom_seg",
    "read_dicom_seg": "napari_segtools.core.segments.dicom_seg",
    # voxel classification from scribbles
    "train_voxel_classifier": "napari_segtools.core.classify.classifier",
    "load_voxel_classifier": "napari_segtools.core.classify.classifier",
    "fit_voxel_classifier": "napari_segtools.core.classify.classifier",
    "VoxelClassifier": "napari_segtools.core.classify.classifier",
    "Prediction": "napari_segtools.core.classify.classifier",
    "compute_features": "napari_segtools.core.classify.features",
    "FeatureSet": "napari_segtools.core.classify.features",
    "SlicePreview": "napari_segtools.core.classify.preview",
    "threshold_as_tree": "napari_segtools.core.lessons.decision_tree",
    "TreeLesson": "napari_segtools.core.lessons.decision_tree",
    "receptive_field_lesson": "napari_segtools.core.lessons.receptive_field",
    "ReceptiveFieldLesson": "napari_segtools.core.lessons.receptive_field",
    "class_imbalance_lesson": "napari_segtools.core.lessons.class_imbalance",
    "ClassImbalanceLesson": "napari_segtools.core.lessons.class_imbalance",
    "ring_images": "napari_segtools.core.lessons.ring_task",
}
_SUBMODULES = {"metrics", "core"}

__all__ = ["__version__", *_EXPORTS, *_SUBMODULES]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
