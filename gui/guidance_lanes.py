"""Lanes under the player, one column per frame of the clip: the first control's preprocessed
frames (previewable before generating), the SparseCtrl keyframes and the prompt-travel entries
as markers.

Keyframes: drop an image on a frame to add one, drag a marker to move it, select it and press
Delete to remove it. Prompt travel: drag a marker to move it, double-click it to edit its text.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QInputDialog, QWidget

from backend.core.errors import InputError
from backend.core.guidance import Keyframe
from gui.i18n import translate

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
LANE_HEIGHT = 26


def use_dropped_video(window, path: str, as_control: bool) -> None:
    """A video dropped on the window: the input of video to video, or with Shift held the
    first control's source."""
    if as_control:
        window.guidance.set_control_source(path)
        window.set_status(translate("MainWindow", "Control video {0}").format(Path(path).name))
    else:
        window.parameters.set_input_video(path)
        window.set_status(translate("MainWindow", "Video to video with {0}").format(Path(path).name))


class GuidanceLanes(QWidget):
    """The lanes; `frames` is the clip's frame count. Reads and writes the Guidance panel's
    keyframes and the prompt panel's travel entries."""

    previewStarted = Signal()
    previewReady = Signal()
    previewFailed = Signal(str)
    _previewed = Signal(int, object)  # preview number, thumbnails or a message: thread -> GUI

    def __init__(self, guidance, prompt, frames: int = 16) -> None:
        super().__init__()
        self.setObjectName("guidanceLanes")
        self.setAccessibleName(self.tr("Guidance lanes"))
        self.setToolTip(self.tr("Control frames, keyframes and prompt changes, frame by frame. "
                                "Drop an image on a frame to add a keyframe; drag markers to "
                                "move them; Delete removes the selected keyframe; double-click a "
                                "prompt marker to edit it."))
        self.guidance, self.prompt = guidance, prompt
        self.frames = max(1, frames)
        self.thumbnails: list[QImage] = []
        self._previews = 0  # previews asked for; only the latest one's result is shown
        self._previewed.connect(self._show_preview, Qt.ConnectionType.QueuedConnection)
        self.selected: int | None = None  # the selected keyframe's frame
        self._drag: tuple[str, int] | None = None  # ("keyframe" | "travel", frame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setMinimumHeight(3 * LANE_HEIGHT)
        self.setMaximumHeight(3 * LANE_HEIGHT)
        guidance.changed.connect(self.update)

    def set_frame_count(self, frames: int) -> None:
        self.frames = max(1, frames)
        self.update()

    def frame_at(self, x: float) -> int:
        return min(self.frames - 1, max(0, int(x * self.frames / max(1, self.width()))))

    def cell(self, frame: int, lane: int) -> QRect:
        left = round(frame * self.width() / self.frames)
        right = round((frame + 1) * self.width() / self.frames)
        return QRect(left, lane * LANE_HEIGHT, max(1, right - left - 1), LANE_HEIGHT - 2)

    # -- the control lane -------------------------------------------------------------------

    def preview_control(self) -> bool:
        """Read and preprocess the first control's source into thumbnails, on a thread of its
        own: a depth or pose preprocessor may download its model and import torch first.
        False when there is nothing to preview; then previewReady, or previewFailed with the
        message. A newer preview makes an older one's result be dropped."""
        controls = self.guidance.read()["controls"]
        self._previews += 1
        if not controls or not controls[0].source:
            self.thumbnails = []
            self.update()
            return False
        control, number = controls[0], self._previews
        threading.Thread(target=self._preview, args=(control, number), name="control-preview",
                         daemon=True).start()
        self.previewStarted.emit()
        return True

    def _preview(self, control, number: int) -> None:
        from backend.core.guidance import checked_sha256
        from backend.models.preprocessors import preprocessed_frames

        try:
            digest = checked_sha256(control.source, None, "control source")
            frames = preprocessed_frames(control.source, control.preprocess, digest)
            result = [self._thumbnail(frame) for frame in frames]
        except InputError as exc:
            result = str(exc)
        except Exception as exc:  # noqa: BLE001 - said in the window, never lost in a thread
            result = f"{type(exc).__name__}: {exc}"
        try:
            self._previewed.emit(number, result)
        except RuntimeError:  # the window closed while the preview was being made
            pass

    def _show_preview(self, number: int, result) -> None:
        if number != self._previews:
            return  # a newer preview was asked for
        if isinstance(result, str):
            self.previewFailed.emit(result)
            return
        self.thumbnails = result
        self.update()
        self.previewReady.emit()

    @staticmethod
    def _thumbnail(frame) -> QImage:
        """A small copy, smoothly scaled so one-pixel edges stay visible."""
        import numpy as np  # here, not at the top: the window shows before numpy is loaded

        frame = np.ascontiguousarray(frame)
        height, width = frame.shape[:2]
        image = QImage(frame.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        return image.scaled(64, 64, Qt.AspectRatioMode.KeepAspectRatio,
                            Qt.TransformationMode.SmoothTransformation)

    # -- painting ---------------------------------------------------------------------------

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        for frame in range(self.frames):
            if self.thumbnails:
                image = self.thumbnails[min(frame, len(self.thumbnails) - 1)]
                painter.drawImage(self.cell(frame, 0), image)
            else:
                painter.fillRect(self.cell(frame, 0), self.palette().alternateBase())
        for keyframe in self.guidance.keyframe_list():
            if keyframe.frame < self.frames:
                colour = QColor("#e0a030") if keyframe.frame == self.selected else QColor("#3080e0")
                painter.fillRect(self.cell(keyframe.frame, 1).adjusted(2, 3, -2, -3), colour)
        pen = QPen(QColor("#40a060"))
        pen.setWidth(3)
        painter.setPen(pen)
        for frame in self._travel():
            if frame < self.frames:
                rect = self.cell(frame, 2)
                painter.drawLine(rect.left() + 1, rect.top() + 3, rect.left() + 1, rect.bottom() - 3)
        painter.end()

    def _travel(self) -> dict[int, str]:
        try:
            return self.prompt.travel_prompts()
        except InputError:
            return {}

    # -- keyframes: drop, drag, Delete; travel: drag, double-click ---------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if any(Path(u.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            path = url.toLocalFile()
            if Path(path).suffix.lower() in IMAGE_SUFFIXES:
                self.add_keyframe(self.frame_at(event.position().x()), path)
                event.acceptProposedAction()
                return

    def add_keyframe(self, frame: int, image: str) -> None:
        keyframes = [k for k in self.guidance.keyframe_list() if k.frame != frame]
        self.guidance.set_keyframes([*keyframes, Keyframe(frame, image)])
        self.selected = frame

    def move_keyframe(self, old: int, new: int) -> None:
        keyframes = self.guidance.keyframe_list()
        if old == new or any(k.frame == new for k in keyframes):
            return
        self.guidance.set_keyframes([Keyframe(new, k.image) if k.frame == old else k for k in keyframes])
        self.selected = new

    def remove_keyframe(self, frame: int) -> None:
        self.guidance.set_keyframes([k for k in self.guidance.keyframe_list() if k.frame != frame])
        self.selected = None

    def move_travel(self, old: int, new: int) -> None:
        prompts = self._travel()
        if old == new or new in prompts or old not in prompts:
            return
        prompts[new] = prompts.pop(old)
        self.prompt.set_travel(prompts)
        self.update()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        frame, lane = self.frame_at(event.position().x()), int(event.position().y() // LANE_HEIGHT)
        if lane == 1 and any(k.frame == frame for k in self.guidance.keyframe_list()):
            self.selected, self._drag = frame, ("keyframe", frame)
        elif lane == 2 and frame in self._travel():
            self._drag = ("travel", frame)
        else:
            self.selected, self._drag = None, None
        self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._drag is not None:
            kind, old = self._drag
            new = self.frame_at(event.position().x())
            (self.move_keyframe if kind == "keyframe" else self.move_travel)(old, new)
        self._drag = None
        self.update()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        frame = self.frame_at(event.position().x())
        prompts = self._travel()
        if int(event.position().y() // LANE_HEIGHT) == 2 and frame in prompts:
            text, ok = QInputDialog.getText(self, self.tr("Prompt from frame {0}").format(frame),
                                            self.tr("Prompt"), text=prompts[frame])
            if ok and text.strip():
                prompts[frame] = text.strip()
                self.prompt.set_travel(prompts)
                self.update()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selected is not None:
            self.remove_keyframe(self.selected)
            self.update()
            return
        super().keyPressEvent(event)
