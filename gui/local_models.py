"""The user's own model files, offered in the model fields: their folders are scanned (a header
read per .safetensors file) on a thread of its own once the window shows, so the window never
waits on the disk for them; the fields get them a moment later."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal

from backend.core.errors import InputError


class LocalModelScan(QObject):
    """Scans the remembered model folders off the GUI thread; `found` (on the GUI thread) goes
    to `offer(models)`."""

    found = Signal(list)  # backend.hub.scan.LocalModel

    def __init__(self, parent: QObject, offer) -> None:
        super().__init__(parent)
        self.found.connect(offer, Qt.ConnectionType.QueuedConnection)
        self.scanner: threading.Thread | None = None

    def start(self) -> None:
        if self.scanner is None:
            self.scanner = threading.Thread(target=self._run, name="local-models", daemon=True)
            self.scanner.start()

    def _run(self) -> None:
        from backend.hub.scan import local_models

        try:
            models = local_models()
        except (OSError, InputError):
            return  # a folder gone or unreadable: nothing to offer; the Models window says why
        try:
            self.found.emit(models)
        except RuntimeError:
            pass  # the window closed meanwhile
