"""The frame timeline player: a frame view, transport, a slider and a strip of thumbnails.

Frames are kept as one uint8 array [F, H, W, 3]; each paint wraps the current frame in a QImage
without copying, so a clip costs its raw RGB size plus small thumbnails. Playback reads a
monotonic clock on every tick and shows the frame that should be on screen now: rates stay
exact and do not drift, and a slow machine skips frames instead of slowing the clip down.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QT_TRANSLATE_NOOP, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QGuiApplication,
    QImage,
    QKeySequence,
    QPainter,
    QPen,
    QShortcut,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    import numpy as np

LOOP_MODES = ("loop", "pingpong", "once")
LOOP_LABELS = {  # shown through tr() of TimelinePlayer
    "loop": QT_TRANSLATE_NOOP("TimelinePlayer", "Loop"),
    "pingpong": QT_TRANSLATE_NOOP("TimelinePlayer", "Ping-pong"),
    "once": QT_TRANSLATE_NOOP("TimelinePlayer", "Once"),
}
ZOOMS = ("fit", "1x", "2x")
THUMB_HEIGHT = 48


def to_qimage(frame: np.ndarray) -> QImage:
    """A QImage over the frame's memory (no copy): keep `frame` alive while it is used."""
    height, width = frame.shape[:2]
    return QImage(frame.data, width, height, 3 * width, QImage.Format.Format_RGB888)


def frame_at(position: int, first: int, last: int, mode: str) -> tuple[int, bool]:
    """The frame to show `position` frames after playback started at `first`, for a loop mode,
    and whether playback has ended (only in 'once')."""
    length = last - first + 1
    if length <= 1:
        return first, mode == "once" and position > 0
    if mode == "once":
        return (first + position, False) if position < length else (last, True)
    if mode == "pingpong":
        period = 2 * length - 2
        phase = position % period
        return (first + phase if phase < length else first + period - phase), False
    return first + position % length, False


class FrameView(QWidget):
    """Draws one frame, keeping its aspect ratio, smoothly scaled (fit) or at 1x/2x."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("frameView")
        self.setAccessibleName(self.tr("Frame view"))
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.frame: np.ndarray | None = None
        self.zoom = "fit"
        self.placeholder = self.tr("No frames yet: write a prompt and press Generate (Ctrl+Enter).")

    def set_frame(self, frame: np.ndarray | None) -> None:
        import numpy as np  # numpy loads with the first frame, not before the window shows

        self.frame = None if frame is None else np.ascontiguousarray(frame)
        self.update()

    def set_zoom(self, zoom: str) -> None:
        self.zoom = zoom
        self.update()

    def target_rect(self) -> QRect:
        if self.frame is None:
            return QRect()
        height, width = self.frame.shape[:2]
        if self.zoom == "fit":
            scale = min(self.width() / width, self.height() / height)
        else:
            scale = float(self.zoom[0])
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        return QRect((self.width() - w) // 2, (self.height() - h) // 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 28))
        if self.frame is None:
            painter.setPen(QColor(170, 170, 180))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(self.target_rect(), to_qimage(self.frame))


def fit_thumbnail(cell: QRect, width: int, height: int) -> tuple[QRect, QRect]:
    """(target, source) to draw a `width` x `height` thumbnail in `cell` without distorting it:
    centred with room to spare when the cell is wider, its middle part when narrower."""
    scaled = round(width * cell.height() / height)
    if scaled <= cell.width():
        left = cell.left() + (cell.width() - scaled) // 2
        return QRect(left, cell.top(), scaled, cell.height()), QRect(0, 0, width, height)
    shown = max(1, round(cell.width() * height / cell.height()))
    return QRect(cell), QRect((width - shown) // 2, 0, shown, height)


class ThumbnailStrip(QWidget):
    """One small thumbnail per frame; the current frame is outlined, the in/out range shaded
    outside. Clicking a thumbnail selects its frame."""

    frameClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("thumbnailStrip")
        self.setAccessibleName(self.tr("Frame thumbnails"))
        self.thumbnails: list[np.ndarray] = []
        self.current = 0
        self.in_point = 0
        self.out_point = 0
        self.setFixedHeight(THUMB_HEIGHT + 8)

    def set_frames(self, frames: np.ndarray) -> None:
        import numpy as np
        from PIL import Image

        height, width = frames.shape[1:3]
        thumb_w = max(8, round(width * THUMB_HEIGHT / height))
        step = max(1, len(frames) // 512)  # cap the work for very long clips
        self.thumbnails = []
        for index in range(len(frames)):
            source = frames[index - index % step]
            image = Image.fromarray(source).resize((thumb_w, THUMB_HEIGHT), Image.Resampling.BILINEAR)
            self.thumbnails.append(np.ascontiguousarray(np.asarray(image)))
        self.update()

    def cell_rect(self, index: int) -> QRect:
        count = max(1, len(self.thumbnails))
        width = self.width() / count
        return QRect(round(index * width), 4, max(1, round(width) - 1), THUMB_HEIGHT)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(36, 36, 42))
        for index, thumb in enumerate(self.thumbnails):
            rect = self.cell_rect(index)
            image = to_qimage(thumb)
            target, source = fit_thumbnail(rect, image.width(), image.height())
            painter.drawImage(target, image, source)
            if not self.in_point <= index <= self.out_point:
                painter.fillRect(rect, QColor(0, 0, 0, 150))
        if self.thumbnails:
            painter.setPen(QPen(QColor(255, 196, 0), 2))
            painter.drawRect(self.cell_rect(self.current).adjusted(1, -2, -1, 2))
            painter.setPen(QPen(QColor(80, 200, 255), 2))
            for point in (self.in_point, self.out_point):
                rect = self.cell_rect(point)
                x = rect.left() if point == self.in_point else rect.right()
                painter.drawLine(x, 0, x, self.height())

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if self.thumbnails:
            count = len(self.thumbnails)
            index = int(event.position().x() / max(1, self.width()) * count)
            self.frameClicked.emit(max(0, min(count - 1, index)))


class TimelinePlayer(QWidget):
    """The `timeline` widget of DESIGN.md."""

    frameChanged = Signal(int)
    exportRequested = Signal()
    playingChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.setAccessibleName(self.tr("Timeline player"))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.frames: np.ndarray | None = None
        self.is_preview = False
        self.clip_request = None  # the GenerationRequest of the frames shown (None for a preview)
        self.current = 0
        self.in_point = 0
        self.out_point = 0
        self.loop_mode = "loop"
        self.clock = time.monotonic
        self._start_time = 0.0
        self._start_position = 0
        self.shown_log: list[tuple[float, int]] | None = None  # (time, frame) when measuring

        self.view = FrameView(self)
        self.strip = ThumbnailStrip(self)
        self.strip.frameClicked.connect(self.seek)

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setSingleShot(True)  # each tick schedules the next at the next frame's time
        self.timer.timeout.connect(self._tick)
        self._playing = False

        style = self.style()

        def tool(name: str, icon: QStyle.StandardPixmap, label: str, key: str, slot) -> QToolButton:
            button = QToolButton(self)
            button.setObjectName(name)
            button.setIcon(style.standardIcon(icon))
            button.setToolTip(f"{label} ({QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)})")
            button.setAccessibleName(label)
            button.clicked.connect(slot)
            return button

        sp = QStyle.StandardPixmap
        self.first_button = tool("firstButton", sp.SP_MediaSkipBackward, self.tr("First frame"), "Home", self.first)
        self.prev_button = tool("previousButton", sp.SP_MediaSeekBackward, self.tr("Previous frame"), "Left", self.previous)
        self.play_button = tool("playButton", sp.SP_MediaPlay, self.tr("Play / pause"), "Space", self.toggle_play)
        self.next_button = tool("nextButton", sp.SP_MediaSeekForward, self.tr("Next frame"), "Right", self.next)
        self.last_button = tool("lastButton", sp.SP_MediaSkipForward, self.tr("Last frame"), "End", self.last)
        self.play_button.setCheckable(True)
        self.play_button.setMinimumWidth(44)

        self.frame_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.frame_slider.setObjectName("frameSlider")
        self.frame_slider.setAccessibleName(self.tr("Frame"))
        self.frame_slider.setToolTip(self.tr("Scrub through the frames"))
        self.frame_slider.setRange(0, 0)
        self.frame_slider.valueChanged.connect(self._slider_moved)

        self.counter = QLabel("0 / 0", self)
        self.counter.setObjectName("frameCounter")
        self.counter.setMinimumWidth(120)

        self.fps_spin = QDoubleSpinBox(self)
        self.fps_spin.setObjectName("playerFpsSpin")
        self.fps_spin.setAccessibleName(self.tr("Playback fps"))
        self.fps_spin.setRange(1, 120)
        self.fps_spin.setDecimals(0)
        self.fps_spin.setValue(8)
        self.fps_spin.setSuffix(" fps")
        self.fps_spin.setToolTip(self.tr("Playback speed in frames per second (defaults to the take's fps)"))
        self.fps_spin.valueChanged.connect(self._restart_clock)

        self.loop_combo = QComboBox(self)
        self.loop_combo.setObjectName("loopCombo")
        self.loop_combo.setAccessibleName(self.tr("Loop mode"))
        self.loop_combo.setToolTip(self.tr("Loop, ping-pong (forward then back) or play once (L cycles)"))
        for mode in LOOP_MODES:
            self.loop_combo.addItem(self.tr(LOOP_LABELS[mode]), mode)
        self.loop_combo.currentIndexChanged.connect(lambda _: self.set_loop_mode(self.loop_combo.currentData()))

        self.zoom_combo = QComboBox(self)
        self.zoom_combo.setObjectName("zoomCombo")
        self.zoom_combo.setAccessibleName(self.tr("Zoom"))
        self.zoom_combo.setToolTip(self.tr("Fit the window, or show at 1x / 2x"))
        for zoom in ZOOMS:
            self.zoom_combo.addItem(zoom.upper() if zoom != "fit" else self.tr("Fit"), zoom)
        self.zoom_combo.currentIndexChanged.connect(lambda _: self.view.set_zoom(self.zoom_combo.currentData()))

        self.export_button = QToolButton(self)
        self.export_button.setObjectName("exportButton")
        self.export_button.setAccessibleName(self.tr("Export"))
        self.export_button.setText(self.tr("Export…"))
        self.export_button.setToolTip(self.tr("Export the in/out range as GIF, MP4, WebM, WebP or PNG frames (Ctrl+E)"))
        self.export_button.clicked.connect(self.exportRequested)

        # The scrub slider has a row of its own, so it keeps a useful width in a narrow window
        # (beside a dozen controls it collapsed to a square).
        self.frame_slider.setMinimumWidth(160)
        scrub = QHBoxLayout()
        scrub.setSpacing(6)
        scrub.addWidget(self.frame_slider, 1)
        scrub.addWidget(self.counter)
        transport = QHBoxLayout()
        transport.setSpacing(4)
        for widget in (self.first_button, self.prev_button, self.play_button, self.next_button, self.last_button):
            transport.addWidget(widget)
        transport.addStretch(1)
        transport.addWidget(self.fps_spin)
        transport.addWidget(self.loop_combo)
        transport.addWidget(self.zoom_combo)
        transport.addWidget(self.export_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.strip)
        self._lanes_at = layout.count()
        layout.addLayout(scrub)
        layout.addLayout(transport)

        for key, slot in (
            (Qt.Key.Key_Space, self.toggle_play),
            (Qt.Key.Key_Left, self.previous),
            (Qt.Key.Key_Right, self.next),
            (Qt.Key.Key_Home, self.first),
            (Qt.Key.Key_End, self.last),
            (Qt.Key.Key_I, self.set_in_point),
            (Qt.Key.Key_O, self.set_out_point),
            (Qt.Key.Key_L, self.cycle_loop_mode),
            (QKeySequence.StandardKey.Copy, self.copy_frame),
        ):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        copy_action = QAction(self.tr("Copy frame"), self.view)
        copy_action.triggered.connect(self.copy_frame)
        save_action = QAction(self.tr("Save frame as PNG…"), self.view)
        save_action.triggered.connect(self.save_frame_dialog)
        self.view.addAction(copy_action)
        self.view.addAction(save_action)
        self._update_controls()

    # -- content --------------------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        return 0 if self.frames is None else len(self.frames)

    @property
    def fps(self) -> float:
        return self.fps_spin.value()

    def add_lane_widget(self, widget: QWidget) -> None:
        """A lane under the frame strip, aligned with it frame by frame (the guidance lanes)."""
        self.layout().insertWidget(self._lanes_at, widget)
        self._lanes_at += 1

    def set_frames(self, frames: np.ndarray | None, fps: float | None = None, preview: bool = False,
                   request=None) -> None:
        """Show a clip. A job's next preview, and its finished clip, keep the playhead, in/out
        range and zoom the job's preview had when the length matches (a first preview over a clip
        of its length keeps the playhead too); any other clip starts with its whole range at
        fit zoom: each take is its own. `request` is the
        request that made these frames: exports take it with them, so frames and settings
        never mix."""
        import numpy as np

        self.clip_request = None if preview else request
        same_length = frames is not None and self.frames is not None and len(frames) == len(self.frames)
        keep = same_length and self.is_preview
        keep_playhead = same_length and (preview or self.is_preview)
        self.frames = None if frames is None else np.ascontiguousarray(frames)
        self.is_preview = preview
        if fps is not None:
            self.fps_spin.blockSignals(True)
            self.fps_spin.setValue(fps)
            self.fps_spin.blockSignals(False)
        count = self.frame_count
        if not keep:
            self.in_point, self.out_point = 0, max(0, count - 1)
            self.zoom_combo.setCurrentIndex(ZOOMS.index("fit"))
        if not keep_playhead:
            self.current = 0
        self.current = min(self.current, max(0, count - 1))
        if self.frames is not None:
            self.strip.set_frames(self.frames)
        elif self.frames is None:
            self.strip.thumbnails = []
        self.frame_slider.blockSignals(True)
        self.frame_slider.setRange(0, max(0, count - 1))
        self.frame_slider.blockSignals(False)
        if count == 0:
            self.pause()
        self._show(self.current)
        self._update_controls()

    def range_frames(self) -> np.ndarray | None:
        if self.frames is None:
            return None
        return self.frames[self.in_point : self.out_point + 1]

    def current_frame(self) -> np.ndarray | None:
        return None if self.frames is None else self.frames[self.current]

    def copy_frame(self) -> bool:
        """Put the current frame on the clipboard as an image."""
        frame = self.current_frame()
        if frame is None:
            return False
        QGuiApplication.clipboard().setImage(to_qimage(frame).copy())
        return True

    def save_frame(self, path: str) -> Path:
        """Save the current frame as a lossless PNG (atomically)."""
        from PIL import Image

        from backend.core.atomic import atomic_path

        frame = self.current_frame()
        if frame is None:
            raise ValueError("there is no frame to save")
        target = Path(path)
        if target.suffix.lower() != ".png":
            target = target.with_suffix(".png")
        with atomic_path(target) as tmp:
            Image.fromarray(frame).save(tmp, format="PNG")
        return target

    def save_frame_dialog(self) -> None:
        if self.current_frame() is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Save frame"), f"frame_{self.current:05d}.png", "PNG (*.png)")
        if path:
            self.save_frame(path)

    # -- transport ------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self._playing

    def play(self) -> None:
        if self.frame_count < 1:
            return
        if self.loop_mode == "once" and self.current >= self.out_point:
            self._show(self.in_point)
        self._playing = True
        self._restart_clock()
        self._schedule(0)
        self._update_controls()
        self.playingChanged.emit(True)

    def pause(self) -> None:
        was = self._playing
        self._playing = False
        self.timer.stop()
        self._update_controls()
        if was:
            self.playingChanged.emit(False)

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def seek(self, index: int) -> None:
        if self.frame_count:
            self._show(max(0, min(self.frame_count - 1, index)))
            self._restart_clock()

    def first(self) -> None:
        self.seek(self.in_point)

    def last(self) -> None:
        self.seek(self.out_point)

    def next(self) -> None:
        if self.frame_count:
            self.pause()
            self.seek(self.in_point if self.current >= self.out_point else self.current + 1)

    def previous(self) -> None:
        if self.frame_count:
            self.pause()
            self.seek(self.out_point if self.current <= self.in_point else self.current - 1)

    def set_in_point(self, index: int | None = None) -> None:
        index = self.current if index is None or isinstance(index, bool) else index
        self.in_point = max(0, min(index, self.frame_count - 1))
        self.out_point = max(self.out_point, self.in_point)
        self._update_controls()

    def set_out_point(self, index: int | None = None) -> None:
        index = self.current if index is None or isinstance(index, bool) else index
        self.out_point = max(0, min(index, self.frame_count - 1))
        self.in_point = min(self.in_point, self.out_point)
        self._update_controls()

    def clear_range(self) -> None:
        self.in_point, self.out_point = 0, max(0, self.frame_count - 1)
        self._update_controls()

    def set_loop_mode(self, mode: str) -> None:
        if mode not in LOOP_MODES:
            return
        self.loop_mode = mode
        index = LOOP_MODES.index(mode)
        if self.loop_combo.currentIndex() != index:
            self.loop_combo.setCurrentIndex(index)
        self._restart_clock()

    def cycle_loop_mode(self) -> None:
        self.set_loop_mode(LOOP_MODES[(LOOP_MODES.index(self.loop_mode) + 1) % len(LOOP_MODES)])

    # -- internals ------------------------------------------------------------------------

    def _restart_clock(self, *_args) -> None:
        self._start_time = self.clock()
        self._start_position = self.current
        if self._playing:
            self._schedule(0)

    def _schedule(self, position: int) -> None:
        """Wake up when frame `position + 1` is due (never later than 100 ms from now)."""
        due = self._start_time + (position + 1) / self.fps
        wait_ms = math.ceil(max(0.0, due - self.clock()) * 1000)
        self.timer.start(max(1, min(wait_ms, 100)))

    def _tick(self) -> None:
        if not self._playing:
            return  # a tick queued before a pause
        if self.frame_count < 1:
            self.pause()
            return
        first, last = self.in_point, self.out_point
        start = min(max(self._start_position, first), last)
        elapsed = self.clock() - self._start_time
        position = math.floor(elapsed * self.fps + 1e-9)  # frames since playback (re)started
        # Continue from where the playhead was when playback started.
        index, ended = frame_at(position + start - first, first, last, self.loop_mode)
        if index != self.current:
            self._show(index)
        if ended:
            self.pause()
        elif self._playing:
            self._schedule(position)

    def _show(self, index: int) -> None:
        self.current = index
        self.view.set_frame(None if self.frames is None else self.frames[index])
        if self.shown_log is not None:
            self.shown_log.append((self.clock(), index))
        self.frame_slider.blockSignals(True)
        self.frame_slider.setValue(index)
        self.frame_slider.blockSignals(False)
        self.strip.current = index
        self.strip.update()
        self._update_counter()
        self.frameChanged.emit(index)

    def _slider_moved(self, value: int) -> None:
        if self.frame_count and value != self.current:
            self._show(value)
            self._restart_clock()

    def _update_counter(self) -> None:
        count = self.frame_count
        if not count:
            self.counter.setText("0 / 0")
            return
        seconds = self.current / self.fps
        text = self.tr("preview {0} / {1}  ·  {2} s") if self.is_preview else self.tr("{0} / {1}  ·  {2} s")
        self.counter.setText(text.format(self.current + 1, count, f"{seconds:0.2f}"))

    def _update_controls(self) -> None:
        has = self.frame_count > 0
        for widget in (self.first_button, self.prev_button, self.play_button, self.next_button,
                       self.last_button, self.frame_slider):
            widget.setEnabled(has)
        self.export_button.setEnabled(has and not self.is_preview)
        self.play_button.blockSignals(True)
        self.play_button.setChecked(self.playing)
        icon = QStyle.StandardPixmap.SP_MediaPause if self.playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        self.play_button.blockSignals(False)
        self.strip.in_point, self.strip.out_point = self.in_point, self.out_point
        self.strip.update()
        self._update_counter()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(640, 520)
