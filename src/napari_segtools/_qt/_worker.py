"""The one place that starts background work: a core ``iter_*`` generator in a napari worker.

Progress events drive the widget's progress bar and napari's activity bar; Cancel quits the worker
at its next yield and leaves every layer untouched; errors become a one-line notification.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from magicgui.widgets import Container, ProgressBar, PushButton
from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils import progress
from napari.utils.notifications import show_info

from ..core._types import Progress
from ._common import StatusLine


def _drive(gen):
    """Run an existing generator inside the worker, keeping the object so Cancel can close it."""
    return (yield from gen)


class RunControls(Container):
    """Run / Cancel buttons and a progress bar, shared by every widget."""

    def __init__(self, run_text: str = "Run", **kwargs):
        self.run_button = PushButton(text=run_text, tooltip="Start the computation")
        self.cancel_button = PushButton(
            text="Cancel", enabled=False, tooltip="Stop at the next step; layers stay untouched"
        )
        self.progress = ProgressBar(value=0, min=0, max=1, visible=False, label="")
        buttons = Container(
            widgets=[self.run_button, self.cancel_button], layout="horizontal", labels=False
        )
        buttons.margins = (0, 0, 0, 0)
        #: the dock's one status line: results, user mistakes inline, failures
        self.status = StatusLine()
        #: the worker these controls belong to now (None when idle)
        self.current: GeneratorWorker | None = None
        super().__init__(widgets=[buttons, self.progress, self.status], labels=False, **kwargs)
        self.margins = (0, 0, 0, 0)

    @property
    def last_error(self) -> str | None:
        """Message of the last failure or refusal, ``None`` after a success."""
        return self.status.problem


def run_generator(
    controls: RunControls,
    gen_func: Callable,
    *args,
    on_returned: Callable,
    title: str,
    quiet: bool = False,
    **kwargs,
) -> GeneratorWorker:
    """Run ``gen_func(*args, **kwargs)`` (a core generator) in a worker thread.

    ``on_returned`` receives the generator's return value on the main thread. Returns the started
    worker; its ``finished`` signal fires after success, error and cancel alike, so connect to
    it before the worker can end (this function does). ``quiet`` is for background jobs a newer
    request may supersede (previews, histograms): no napari activity bar (updating it costs
    ~170 ms on a shown window) and no message when it is cancelled.
    """
    gen = gen_func(*args, **kwargs)  # a generator object: nothing runs before the first yield
    worker: GeneratorWorker = create_worker(_drive, gen, _ignore_errors=True)
    bar = None if quiet else progress(total=0, desc=title)
    controls.status.say("")
    controls.progress.visible = True
    controls.progress.value = 0

    def on_yield(event):
        if isinstance(event, Progress):
            total = max(int(event.total), 1)
            try:
                controls.progress.max = total
                controls.progress.value = min(int(event.step), total)
                controls.progress.label = event.message
            except RuntimeError:  # the dock was deleted with its viewer; the worker stops
                worker.quit()
                return
            if bar is None:
                return
            bar.total = total
            bar.n = min(int(event.step), total)
            bar.set_description(f"{title}: {event.message}" if event.message else title)
            bar.refresh()

    def on_error(exc: BaseException):
        controls.status.fail(f"{title} failed: {exc}", exc)

    def on_aborted():
        # the worker stops at a yield but leaves the generator open: close it so its `finally`
        # blocks release resources (and stop a running registration) now, not at collection
        gen.close()
        if quiet:
            return
        controls.status.refuse(f"{title} cancelled; no layer was changed")
        show_info(controls.status.problem)

    def on_finished():
        if bar is not None:
            bar.close()
        with contextlib.suppress(TypeError, RuntimeError):  # already disconnected
            controls.cancel_button.changed.disconnect(worker.quit)
        if controls.current is not worker:  # a newer worker owns the buttons now
            return
        controls.current = None
        with contextlib.suppress(RuntimeError):  # the dock was deleted with its viewer
            controls.progress.visible = False
            controls.run_button.enabled = True
            controls.cancel_button.enabled = False

    worker.yielded.connect(on_yield)
    worker.returned.connect(on_returned)
    worker.errored.connect(on_error)
    worker.aborted.connect(on_aborted)
    worker.finished.connect(on_finished)
    controls.cancel_button.changed.connect(worker.quit)
    controls.run_button.enabled = False
    controls.cancel_button.enabled = True
    controls.current = worker
    worker.start()
    return worker
