"""U-Net inference and training (torch is imported lazily by the submodules, never here).

torch is optional (the ``[unet]`` extra): :func:`~.package.list_models`, model configs and
:mod:`.predict`'s entropy work without it, and whatever needs it raises one ``ImportError``
naming the extra (:func:`~._torch.require_torch`).

- :mod:`.model` -- the configurable 2-D/3-D U-Net (``torch.nn.Module``);
- :mod:`.package` -- model packages (weights + JSON config), ``list_models`` and ``load_model``;
- :mod:`.inference` -- ``iter_sliding_window``: Gaussian-blended, batched, device fallback;
- :mod:`.predict` -- ``iter_predict`` (load + predict, what the dock runs) and
  ``predictive_entropy``;
- :mod:`.losses` -- ``make_loss``: cross-entropy, BCE, Dice, Dice + CE, focal, Tversky, for a
  softmax or a sigmoid (multilabel) head;
- :mod:`.train` -- the training loop behind ``napari-segtools train``.
"""
