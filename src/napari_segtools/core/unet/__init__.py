"""U-Net inference and training (torch is imported lazily by the submodules, never here).

- :mod:`.model` -- the configurable 2-D/3-D U-Net (``torch.nn.Module``);
- :mod:`.package` -- model packages (weights + JSON config), ``list_models`` and ``load_model``;
- :mod:`.inference` -- ``iter_sliding_window``: Gaussian-blended, batched, device fallback;
- :mod:`.train` -- the training loop behind ``napari-segtools train``.
"""
