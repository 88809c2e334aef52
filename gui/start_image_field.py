"""The Start image field: image-to-video for the models that can use one (Wan2.2-TI2V-5B, the
Wan image-to-video models). A line edit that takes a dropped image file, and a browse button."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QToolButton, QWidget

from gui.i18n import translate
from gui.setting_widgets import setting_widget, show_value, widget_value

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
IMAGE_FILTER = QT_TRANSLATE_NOOP("StartImageField", "Images (*.png *.jpg *.jpeg *.webp *.bmp);;All files (*)")


def dropped_image(mime) -> str | None:
    """The first local image file among the dropped URLs."""
    for url in mime.urls():
        path = url.toLocalFile()
        if path and Path(path).suffix.lower() in IMAGE_SUFFIXES:
            return path
    return None


class ImageDropEdit(QLineEdit):
    """A path field that an image file can be dropped on."""

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if dropped_image(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        path = dropped_image(event.mimeData())
        if path:
            self.setText(path)
            event.acceptProposedAction()


class StartImageField(QWidget):
    """The start image's path (objectName startImageEdit) and its browse button."""

    def __init__(self) -> None:
        super().__init__()
        self.edit = setting_widget("start_image", ImageDropEdit())
        self.edit.setAcceptDrops(True)
        self.edit.setPlaceholderText(self.tr("An image file; or drop one here"))
        browse = QToolButton()
        browse.setText("…")
        browse.setObjectName("browseStartImageButton")
        browse.setAccessibleName(self.tr("Browse start image"))
        browse.setToolTip(self.tr("Choose the image the clip starts from"))
        browse.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose the start image"), "",
                                              translate("StartImageField", IMAGE_FILTER))
        if path:
            self.edit.setText(path)

    def value(self) -> str | None:
        return widget_value(self.edit)

    def set_value(self, path: str | None) -> None:
        show_value(self.edit, path)
