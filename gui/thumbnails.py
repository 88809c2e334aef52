"""Take thumbnails made off the GUI thread. A take's first frame may have to be read from the
project file (a full PNG decode): a thread of its own reads and scales it, the strip shows the
icon when it arrives, and keeps it, so refreshing the strip decodes nothing."""

from __future__ import annotations

import threading
from collections import deque

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap

from gui.player import to_qimage


def scaled_thumbnail(frame, size: QSize) -> QImage:
    """A frame (uint8 [H, W, 3]) scaled to fit `size`, as an image of its own (any thread)."""
    import numpy as np

    frame = np.ascontiguousarray(frame)
    return to_qimage(frame).scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)


class ThumbnailLoader(QObject):
    """Lives in the GUI thread. `icon(project, take)` answers from what it has made and asks
    its thread for the rest; `ready(take id)` says that one has arrived."""

    ready = Signal(str)  # take id
    _made = Signal(str, object)  # take id, QImage (null when unreadable): thread -> GUI thread

    def __init__(self, size: QSize, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self._icons: dict[str, QIcon] = {}
        self._asked: set[str] = set()
        self._queue: deque = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._made.connect(self._store, Qt.ConnectionType.QueuedConnection)

    def icon(self, project, take) -> QIcon | None:
        """The take's thumbnail if made (None also for a take whose frames cannot be read)."""
        if take.id in self._icons:
            return self._icons[take.id]
        if take.id not in self._asked:
            self._asked.add(take.id)
            with self._wake:
                self._queue.append((project, take))
                self._wake.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="thumbnails", daemon=True)
                self._thread.start()
        return None

    def made(self, take_id: str) -> QIcon | None:
        return self._icons.get(take_id)

    @property
    def pending(self) -> int:
        """Thumbnails asked for and not arrived yet."""
        return len(self._asked) - len(self._icons)

    def keep_only(self, take_ids: set[str]) -> None:
        """Forget the thumbnails of takes no longer shown (another project was opened)."""
        self._asked = {take_id for take_id in self._asked if take_id in take_ids}
        self._icons = {take_id: icon for take_id, icon in self._icons.items() if take_id in take_ids}

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                project, take = self._queue.popleft()
            try:
                image = scaled_thumbnail(project.thumbnail(take), self.size)
            except Exception:  # noqa: BLE001 - a take without readable frames still lists
                image = QImage()
            self._made.emit(take.id, image)

    def _store(self, take_id: str, image: QImage) -> None:
        if take_id not in self._asked:
            return  # forgotten meanwhile
        self._icons[take_id] = QIcon(QPixmap.fromImage(image)) if not image.isNull() else None
        self.ready.emit(take_id)
